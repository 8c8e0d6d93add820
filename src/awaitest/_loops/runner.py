"""One event loop and the coroutines awaitest runs on it.

This module knows nothing about pytest. A :class:`Runner` runs a test coroutine or a fixture
coroutine to completion, and hosts async generator fixtures: each one lives in a single task
from setup to teardown (so an ``async with`` task group or cancel scope may span its ``yield``),
parked on a future while the tests that use it run.

Every ``run_until_complete`` that runs a test's code is a *step*: while a test is watched
(``_checks.active()``), the step is wrapped in its window's checks (deadline, leaked tasks,
loop errors, blocking). Nothing else runs around it, so with no window a step costs nothing.

A coroutine running in a step may need sync code run that itself runs coroutines on this loop
(pytest setting up a fixture it asks for by name: ``awaitest.getfixturevalue``). That code
can't run inside the running loop, so the coroutine asks for a *call between steps*
(:meth:`Runner.call_between_steps`): the loop is stopped, which ends the step; the call runs
with the loop stopped, free to run coroutines on it; the coroutine gets its outcome and the
next step goes on where the first one stopped. Tasks stay where they were meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import sys
import types
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

from .. import _checks
from ..clock import jump_beside_threads
from .current import restore_current_loop, shut_down, swap_current_loop
from .factories import LoopFactory, clock_of

T = TypeVar("T")

_UNWATCHED: Final = contextlib.nullcontext()


#: Before Python 3.12 (``inspect.markcoroutinefunction``) a plain function's code flags say
#: whether ``inspect.iscoroutinefunction`` is true; from 3.12 a sync one may be marked.
_FLAGS_DECIDE: Final = sys.version_info < (3, 12)


def is_coroutine_function(obj: object) -> bool:
    """``inspect.iscoroutinefunction``, with a shortcut for plain functions: the ``async def``
    tests, and the sync ones every test suite is mostly made of (asked of every test)."""
    if type(obj) is types.FunctionType:
        if obj.__code__.co_flags & inspect.CO_COROUTINE:
            return True
        if _FLAGS_DECIDE:
            return False
    return inspect.iscoroutinefunction(obj)


def is_async_generator_function(obj: object) -> bool:
    """``inspect.isasyncgenfunction``, also for a ``staticmethod`` or ``classmethod`` as a
    class's ``__dict__`` holds it (where pytest's collection hooks find test methods)."""
    if type(obj) is types.FunctionType:  # the shortcut: flags say it all for plain functions
        return bool(obj.__code__.co_flags & inspect.CO_ASYNC_GENERATOR)
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    return inspect.isasyncgenfunction(obj)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None: asyncio's low-level getter, which doesn't
    raise (asked once per async fixture's setup: a loop running then is an error)."""
    return asyncio._get_running_loop()


class NotSteppingError(RuntimeError):
    """A call between steps was asked for where no step of :meth:`Runner.run_steps` is
    running the loop (a fixture's teardown, the loop's shutdown, a loop of someone else's)."""


#: A call between two steps, and the future its outcome goes to: (True, value) or (False, error).
_Between = tuple[Callable[[], Any], "asyncio.Future[tuple[bool, Any]]"]


class Runner:
    __slots__ = (
        "_previous",
        "between",
        "calling",
        "closed",
        "hosts",
        "loop",
        "owned",
        "ran",
        "stepping",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, *, owned: bool = True) -> None:
        self.loop = loop
        self.owned = owned
        self.closed = False
        self.ran = False  # a step ran on the loop (see LoopRegistry.forget_if_closed_unused)
        # Tasks hosting generator fixtures: pending on purpose, never reported as leaks.
        # Each maps to its async generator, so a timeout can show where the fixture waits.
        self.hosts: dict[asyncio.Task[Any], AsyncGenerator[Any, None]] = {}
        #: A step of :meth:`run_steps` is running the loop: calls between steps may be asked for.
        self.stepping = False
        #: The calls between steps asked for and not made yet (perf: no list until one is).
        self.between: list[_Between] | None = None
        self.calling = 0  # calls between steps being made, one inside another
        self._previous = swap_current_loop(loop) if owned else None

    @classmethod
    def open(cls, factory: LoopFactory, *, debug: bool = False) -> Runner:
        __tracebackhide__ = True  # a user's loop factory may fail
        loop = factory()
        if debug:
            loop.set_debug(True)
        return cls(loop)

    def step(
        self, task: asyncio.Future[Any], *, tracked: bool = True
    ) -> contextlib.AbstractContextManager[object]:
        """The checks around one step that runs ``task``; ``tracked=False`` for the steps of
        fixtures wider than the test, whose tasks may outlive it."""
        self.ran = True
        window = _checks.active()
        if window is None:
            return _UNWATCHED
        return window.step(self.loop, task, self.hosts, tracked=tracked)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        context: contextvars.Context | None = None,
        tracked: bool = True,
    ) -> T:
        """Run ``coro`` as a task until it is done; on Ctrl-C cancel it and let it unwind."""
        __tracebackhide__ = True
        task = self.loop.create_task(coro, context=context)
        try:
            self.run_steps(task, task, tracked=tracked)
            return task.result()
        except BaseException as exc:
            if not task.done():
                # Ctrl-C (or SystemExit) arrived while the task was suspended: let its
                # ``finally`` blocks and ``async with`` exits run before unwinding further.
                task.cancel()
                try:
                    self.loop.run_until_complete(task)
                except BaseException:
                    pass
            else:
                self.failed(exc)
                skip_loop_frames(exc, getattr(coro, "cr_code", None))
                if isinstance(exc, TimeoutError):
                    explain_timeout(self.loop, exc)
            raise

    def run_steps(
        self, future: asyncio.Future[Any], task: asyncio.Future[Any], *, tracked: bool
    ) -> None:
        """``run_until_complete(future)``, watched as a step of ``task``; as several steps when
        coroutines on the loop ask for calls between steps, made between two of them."""
        __tracebackhide__ = True
        loop = self.loop
        try:
            while True:
                with self.step(task, tracked=tracked):
                    self.stepping = True
                    try:
                        loop.run_until_complete(future)
                    except RuntimeError:
                        # "Event loop stopped before Future completed": for calls between
                        # steps if any were asked for; else someone else stopped it.
                        if future.done() or not self.between:
                            raise
                    finally:
                        self.stepping = False
                if not self.between:
                    return
                self._call_between()
                if future.done():  # asked for in the step's last round of callbacks
                    return
        except BaseException:
            self._abandon_between()
            raise

    async def call_between_steps(self, call: Callable[[], T]) -> T:
        """From a coroutine on this loop, while a step of :meth:`run_steps` runs it: stop the
        loop, run ``call`` (which may run coroutines on this loop) and return its value here,
        or raise its error here. :class:`NotSteppingError` where no such step runs."""
        __tracebackhide__ = True
        loop = self.loop
        if not self.stepping or running_loop() is not loop:
            raise NotSteppingError
        done: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        if self.between is None:
            self.between = []
        self.between.append((call, done))
        loop.stop()
        succeeded, outcome = await done
        if succeeded:
            value: T = outcome
            return value
        try:
            raise outcome  # here, not from the future: asyncio's frames mean nothing to users
        finally:
            del outcome

    def _call_between(self) -> None:
        """Make the calls asked for in the step that just ended, in order, with the loop
        stopped. One asked for while a call runs (in a step of a coroutine the call runs) is
        that step's to make, not this one's: no call is made inside another it doesn't need."""
        __tracebackhide__ = True
        mine, self.between = self.between or [], None
        self.calling += 1
        try:
            while mine:
                call, done = mine.pop(0)
                if done.done():
                    continue  # the coroutine that asked was cancelled meanwhile
                try:
                    outcome: tuple[bool, Any] = (True, call())
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt | SystemExit):
                        done.cancel()
                        for _, other in mine:
                            other.cancel()
                        raise
                    outcome = (False, exc)
                if not done.done():
                    done.set_result(outcome)
                del outcome
        finally:
            self.calling -= 1

    def _abandon_between(self) -> None:
        """The outermost steps ended with an error (the test's, Ctrl-C, a timeout): coroutines
        still waiting for a call are cancelled, so no later step makes it. Inside a call, the
        steps around it make them later."""
        if self.calling:
            return
        between, self.between = self.between, None
        for _, done in between or ():
            done.cancel()

    def failed(self, exc: BaseException) -> None:
        """A step raised ``exc``: the watched test notes what is pending on the loop now."""
        window = _checks.active()
        if window is not None:
            window.step_failed(self.loop, self.hosts, exc)

    def run_test(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """Run an async test function with its arguments. A hypothesis ``@given`` test is a sync
        function that calls its ``inner_test`` once per example: for this call, inner_test runs
        each example to completion on this loop."""
        __tracebackhide__ = True
        if is_coroutine_function(function):
            self.run(function(**kwargs))
            return
        raw: Any = getattr(function, "__func__", function)
        handle = raw.hypothesis
        inner = handle.inner_test

        @functools.wraps(inner)  # hypothesis reports failing examples under this name
        def run_example(*args: Any, **example_kwargs: Any) -> None:
            __tracebackhide__ = True
            self.run(inner(*args, **example_kwargs))

        handle.inner_test = run_example
        try:
            function(**kwargs)
        finally:
            handle.inner_test = inner

    def start_generator(
        self,
        agen: AsyncGenerator[T, None],
        *,
        context: contextvars.Context | None = None,
        tracked: bool = True,
    ) -> GeneratorHost[T]:
        __tracebackhide__ = True
        host = GeneratorHost(self, agen, tracked=tracked)
        host.setup(context)
        return host

    def close(self) -> str | None:
        """Take the loop down if it is ours; returns what went wrong doing so where
        pytest-asyncio warns (see ``shut_down``), else None."""
        if self.closed:
            return None
        self.closed = True
        window = _checks.active()
        if window is not None:
            window.loop_closing(self.loop, self.hosts)
        if not self.owned:
            return None
        try:
            return shut_down(self.loop)
        finally:
            restore_current_loop(self._previous)


class SecondYieldError(RuntimeError):
    """An async generator fixture yielded again after its teardown began."""


class NoYieldError(RuntimeError):
    """An async generator fixture returned without yielding a value."""


class GeneratorHost(Generic[T]):
    """Runs setup and teardown of one async generator fixture in the same task."""

    __slots__ = ("_agen", "_resume", "_runner", "_task", "_tracked", "value")

    def __init__(
        self, runner: Runner, agen: AsyncGenerator[T, None], *, tracked: bool = True
    ) -> None:
        self._runner = runner
        self._agen = agen
        self._tracked = tracked
        self._resume: asyncio.Future[None] = runner.loop.create_future()
        self._task: asyncio.Task[None] | None = None

    async def _live(self, produced: asyncio.Future[T]) -> None:
        __tracebackhide__ = True
        try:
            value = await self._agen.__anext__()
        except StopAsyncIteration:
            raise NoYieldError from None
        produced.set_result(value)
        await self._resume
        try:
            await self._agen.__anext__()
        except StopAsyncIteration:
            return
        await self._agen.aclose()
        raise SecondYieldError

    def setup(self, context: contextvars.Context | None) -> None:
        __tracebackhide__ = True
        loop = self._runner.loop
        produced: asyncio.Future[T] = loop.create_future()
        task = loop.create_task(self._live(produced), context=context)
        self._task = task
        self._runner.hosts[task] = self._agen
        # If the task ends before yielding a value (it raised), stop waiting for the value.
        # perf: a callback, not asyncio.wait().
        task.add_done_callback(lambda _: produced.done() or produced.cancel())
        try:
            try:
                self._runner.run_steps(produced, task, tracked=self._tracked)
            except asyncio.CancelledError:
                if not task.done() or task.cancelled():
                    raise
            if produced.cancelled():  # the task ended before yielding a value
                self._runner.hosts.pop(task, None)
                # Raised here, not in the except above: the user's error alone, not "during
                # handling of" the CancelledError of our own future.
                task.result()
                raise NoYieldError from None  # pragma: no cover - _live raised or produced
        except BaseException as exc:
            self._runner.failed(exc)  # before _abandon runs the loop on
            self._abandon()
            if isinstance(exc, TimeoutError):
                explain_timeout(loop, exc)
            raise
        self.value = produced.result()

    def teardown(self) -> None:
        __tracebackhide__ = True
        task = self._task
        assert task is not None
        try:
            if task.done():
                task.result()
                return
            self._resume.set_result(None)
            with self._runner.step(task, tracked=self._tracked):
                try:
                    self._runner.loop.run_until_complete(task)
                except BaseException as exc:
                    self._runner.failed(exc)
                    skip_loop_frames(exc, _LIVE)
                    if isinstance(exc, TimeoutError):
                        explain_timeout(self._runner.loop, exc)
                    raise
        finally:
            self._runner.hosts.pop(task, None)

    def _abandon(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                self._runner.loop.run_until_complete(task)
            except BaseException:
                pass
        if task is not None:
            self._runner.hosts.pop(task, None)


_LIVE: Final = GeneratorHost._live.__code__


_JUMPED: Final = "virtual clock jumped"


def explain_timeout(loop: asyncio.AbstractEventLoop, exc: TimeoutError) -> None:
    """A ``TimeoutError`` on a virtual loop whose clock jumped while a thread it can't see was
    alive: say so under the error, with the fix (a note: the error stays the user's)."""
    clock = clock_of(loop)
    found = jump_beside_threads(clock) if clock is not None else None
    notes: list[str] = getattr(exc, "__notes__", [])
    if found is None or any(_JUMPED in note for note in notes):
        return  # a fixture's error re-raised by the test: said once
    before, after, threads = found
    names = ", ".join(repr(name) for name in threads)
    which = f"thread {names} was" if len(threads) == 1 else f"threads {names} were"
    exc.add_note(
        f"awaitest: the {_JUMPED} from {before:g} to {after:g} s while {which} "
        "running. The clock waits for jobs of loop.run_in_executor (asyncio.to_thread) but "
        "can't see other threads (aiosqlite's, a library's own worker), so a timeout can "
        "expire before their answer arrives. Fix: request the virtual_clock fixture and set "
        "virtual_clock.autojump_threshold = 0.1 (real seconds to wait for I/O and threads "
        "before each jump)."
    )


def skip_loop_frames(exc: BaseException, code: types.CodeType | None) -> None:
    """Link the traceback of ``exc``, caught in our frame, straight to the frame of the task's
    coroutine ``code`` when it has one: the event loop's frames in between (its
    ``run_until_complete`` re-raising the task's error) mean nothing to the user, and pytest
    would print the first of them in full, as the first frame it shows."""
    ours = exc.__traceback__
    if ours is None or code is None:
        return
    entry = ours.tb_next
    while entry is not None and entry.tb_frame.f_code is not code:
        entry = entry.tb_next
    if entry is not None:
        ours.tb_next = entry
