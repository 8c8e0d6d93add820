"""The checks while several tests' tasks share one loop (a *batch*; see
docs/design/concurrency.md).

On the serial path one window is open at a time, and the task factory, the loop's exception
handler and the never-awaited hook ask ``_checks._active`` whose it is. In a batch several
windows are open at once, and what runs at any moment is whichever test's task the loop picked.
What tells them apart is the *context*: asyncio runs every step of a task in the task's own
``contextvars.Context``, a task created by code copies its creator's context, and a callback
scheduled with ``call_soon``/``call_later`` runs in the context it was scheduled from. So each
test's context carries its window (the ``WINDOW`` context variable), and everything here reads
it from the context that is running, or from the context of the task or handle in question:

* a task is the test's whose context created it: a task test A creates while test B is the one
  being set up is still A's, because A's code ran in A's context when it created it; its leak is
  A's, found after A's teardown (``Window.settle``, as on the serial path);
* a loop error is blamed on the window in the context of its task, else of its callback's
  handle, else of the code that reported it (``loop.call_exception_handler`` called from a
  test's task); with none of these it is an advisory of the oldest test in flight that names
  every test in flight, never a failure of one of them;
* a coroutine freed unawaited goes to the window of the context it is freed in: the test whose
  code dropped it;
* a loop held too long (``asyncio_blocking_threshold``) is blamed on the test one of whose
  tasks' coroutines is on the main thread's stack sampled while the loop was late;
* each test's deadline cancels that test's task only, listing only its own pending tasks. Its
  hard stage (SIGALRM into a blocked main thread) fires only when the sampled stack is that
  test's; a loop held by another test is that test's blocking, and the late test is cancelled
  as soon as the loop is free, its report naming the test that held the loop.

The API, for the pytest side (CORE's batching; every name here is that contract):

``Shared(monitor, loop, hosts)``
    One per batch. ``with shared:`` for the whole batch, entered before the first test's window
    opens and left after the last one's closes: installs the batch's task factory and exception
    handler on ``loop``, and the batch's never-awaited hook, and puts them back on exit.
``Shared.bind(window, context)``
    ``context`` (the test's own copy) carries ``window``. :meth:`Monitor.open` does it by itself
    for the context it is called in, so opening a test's window inside its context binds it.
``Shared.start(window, coro, context) -> asyncio.Task``
    The test's own task, created in ``context``, with its deadline watched: past it that task
    alone is cancelled.
``Shared.step()``
    The context manager around every loop run of the batch that is not a step of one test's
    (fixture steps go through ``Runner.step`` as always): the blocking check's pings and the
    hard stage of the deadlines.
``Shared.done(window)`` / ``Shared.outcome(window)``
    Once the test's task is done: its deadline is stopped, its pending tasks noted if it failed
    (``asyncio_pending_on_failure``), and a change it made to the shared loop's task factory or
    exception handler undone and reported as its loop error. ``outcome`` also returns the
    task's result or raises its exception, or ``StepTimeout`` with the timeout's report: what a
    serial step raises, for the call phase to turn into the test's outcome. Its findings are in
    its window and reach its reports the serial way (``Window.take``), leaks after its teardown.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Final

from .. import _checks
from .._loops.tasks import Task as _Task
from . import (
    _AGEN_CLOSE,
    _FACTORY_CODE,
    WINDOW,
    Finding,
    Hosts,
    Monitor,
    Watchdog,
    Window,
    _handle_loop_error,
    _post,
    _reporter,
    note_created,
    report_blocking,
)
from .deadlines import Alarm, Expiry, LoopBlocked, StepTimeout, interrupt_main_thread
from .frames import user_stack

_NO_HOSTS: Final[Hosts] = {}


class _Flight:
    """A started test of the batch: its window, its task, its deadline."""

    __slots__ = ("expiry", "finished", "holder", "task", "window")

    def __init__(self, window: Window, task: asyncio.Task[Any], expiry: Expiry | None) -> None:
        self.window = window
        self.task = task
        self.expiry = expiry
        self.finished = False
        self.holder: Window | None = None  # another test seen holding the loop while it was late


#: The frame of a callback being run by an asyncio loop (pure-Python handles).
_HANDLE_RUN: Final = asyncio.Handle._run.__code__


def context_of(handle: object) -> contextvars.Context | None:
    """The context a callback's handle runs in (``get_context()`` from Python 3.12, the
    attribute it reads before)."""
    get = getattr(handle, "get_context", None)
    if get is not None:
        found: contextvars.Context | None = get()
        return found
    return getattr(handle, "_context", None)


class Shared:
    """The checks of one batch: several tests' windows open at once on ``loop``."""

    def __init__(
        self, monitor: Monitor, loop: asyncio.AbstractEventLoop, hosts: Hosts = _NO_HOSTS
    ) -> None:
        self.monitor = monitor
        self.loop = loop
        #: The runner's generator-fixture tasks: pending on purpose, never leaks.
        self.hosts = hosts
        #: The batch's windows, in the order they opened (the oldest first).
        self.windows: list[Window] = []
        self.flights: dict[Window, _Flight] = {}
        #: Whose each task is: the window in the context it was created in (noted by the
        #: factory: Python 3.11's tasks don't show their context).
        self.owners: weakref.WeakKeyDictionary[asyncio.Future[Any], Window] = (
            weakref.WeakKeyDictionary()
        )
        #: The never-awaited hook that was in place (Python's): what a window passes a
        #: coroutine on to when its test handles warnings itself.
        self.previous_hook: Callable[[Any], None] | None = None
        self._unawaited_hooked = False  # hook_unawaited() ran
        self.stepping = False  # a loop run of the batch (``step()``) is going on
        self._starting = False  # start() is creating a test's own task: not a candidate
        self._previous_factory: Any = None
        self._previous_handler: Any = None
        #: the exception handler in force while the batch runs: ours, or the loop's own when
        #: one was set before (a loop factory's), which awaitest then leaves in place
        self._handler: Any = None
        self._debug = False  # the loop's debug mode when the batch began
        self._factory: Any = None
        self._step = _BatchStep(self)
        self._thread = threading.get_ident()

    # -- the batch ---------------------------------------------------------------------------

    def __enter__(self) -> Shared:
        if _checks._shared is not None:
            raise RuntimeError("a batch of awaitest's checks is in progress already")
        loop = self.loop
        handler = loop.get_exception_handler()
        self._previous_handler = handler
        if handler is None or handler is _handle_loop_error:
            loop.set_exception_handler(self._handle_loop_error)
        self._handler = loop.get_exception_handler()
        self._debug = loop.get_debug()
        factory = loop.get_task_factory()
        self._previous_factory = factory
        inner = _unwrapped(factory)  # a serial window's tracking factory: the user's under it
        self._factory = _shared_factory(inner, self)
        loop.set_task_factory(self._factory)
        if self.monitor.policy.unawaited != "ignore":
            self.hook_unawaited()
        # else only a test whose own marker turns the check on puts the hook in place: with it
        # off, nothing is installed, and Python warns from the dropping line as without awaitest
        _checks._shared = self
        return self

    def hook_unawaited(self) -> Callable[[Any], None] | None:
        """Put the batch's never-awaited hook in place, once; returns the hook it replaced
        (Python's), which a window passes a coroutine on to."""
        if self._unawaited_hooked:
            return self.previous_hook
        self._unawaited_hooked = True
        hook = getattr(warnings, "_warn_unawaited_coroutine", None)
        # a window opened before the batch: its hook is replaced by the batch's
        while isinstance(getattr(hook, "__self__", None), Window):
            opened: Window = hook.__self__  # type: ignore[union-attr]
            opened._hooked = False
            hook = opened._previous_hook
        self.previous_hook = hook
        if hook is not None:
            warnings._warn_unawaited_coroutine = self._on_unawaited  # type: ignore[attr-defined]
        return hook

    def __exit__(self, *exc_info: object) -> None:
        _checks._shared = None
        loop = self.loop
        if not loop.is_closed():
            if loop.get_exception_handler() == self._handle_loop_error:
                loop.set_exception_handler(self._previous_handler)
            if loop.get_task_factory() is self._factory:
                loop.set_task_factory(self._previous_factory)
        if getattr(warnings, "_warn_unawaited_coroutine", None) == self._on_unawaited:
            warnings._warn_unawaited_coroutine = self.previous_hook  # type: ignore[attr-defined]
        watchdog = self.monitor._watchdog
        if watchdog is not None and watchdog.batch is self:
            watchdog.batch = None
        if self.monitor.alarm.expiry is not None and self.monitor.alarm.expiry in {
            flight.expiry for flight in self.flights.values()
        }:
            self.monitor.alarm.expiry = None
        self.windows.clear()
        self.flights.clear()

    def opened(self, window: Window) -> None:
        """:meth:`Monitor.open` in the batch: the window is the running context's test's."""
        WINDOW.set(window)
        self.windows.append(window)

    def bind(self, window: Window, context: contextvars.Context) -> None:
        """Make ``context`` (a test's own) carry ``window``."""
        context.run(WINDOW.set, window)
        if window not in self.windows:
            self.windows.append(window)

    def in_flight(self) -> list[Window]:
        """The batch's open windows, the oldest first."""
        return [window for window in self.windows if not window.closed]

    # -- one test ------------------------------------------------------------------------------

    def start(
        self,
        window: Window,
        coro: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        """The test's own task, in ``context`` (a copy of the current one if None), bound to
        ``window``; its deadline, if it has one, cancels this task only."""
        if context is None:
            context = contextvars.copy_context()
        self.bind(window, context)
        self._starting = True
        try:
            task = self.loop.create_task(coro, context=context)
        finally:
            self._starting = False
        self.watch(window, task)
        return task

    def watch(self, window: Window, task: asyncio.Task[Any]) -> None:
        """``task`` (created in ``window``'s context by the caller) is the test's own: its
        deadline, if it has one, cancels this task only."""
        candidates = window._candidates
        if candidates and candidates[-3]() is task:
            del candidates[-3:]  # noted by the factory: the test's own task is never its leak
        self.owners[task] = window
        if window.outside is not None:
            # A deadline over sync code too (pytest-timeout's) interrupts whatever the main
            # thread runs, which from now on may be another test's code: only the task's.
            self.monitor.unwatch_window(window)
            window.outside = None
        # counted from now, the call's start: the other tests' setups before it are not its own
        window.restart_deadline()
        expiry = None
        if window.deadline is not None:
            expiry = Expiry(
                self.loop, task, window.deadline, self.hosts, belongs=self.belongs_to(window)
            )
            self.monitor.alarm.install()
            self._watch()
        self.flights[window] = _Flight(window, task, expiry)
        # its leaks are looked for on this loop after its teardown, as on the serial path
        window._loops.setdefault(self.loop, self.hosts)

    def belongs_to(self, window: Window) -> Callable[[asyncio.Task[Any]], bool]:
        """Which tasks are ``window``'s test's: those that run in its context."""

        owners = self.owners

        def belongs(task: asyncio.Task[Any]) -> bool:
            return owners.get(task) is window

        return belongs

    def window_of(self, thing: object) -> Window | None:
        """The window of the test a task, or a callback's handle, belongs to."""
        if isinstance(thing, asyncio.Future):
            return self.owners.get(thing)
        if thing is None:
            return None
        context = context_of(thing)
        return None if context is None else context.get(WINDOW)

    def done(self, window: Window) -> str | None:
        """The test's task is done (or abandoned): stop its deadline, note its pending tasks if
        it failed, and undo a change it made to the shared loop. The report of its timeout
        when its deadline cancelled it (for ``StepTimeout``), else None. Once."""
        flight = self.flights.get(window)
        if flight is None or flight.finished:
            return None
        flight.finished = True
        expiry = flight.expiry
        if expiry is not None:
            expiry.closed = True
            if self.monitor.alarm.expiry is expiry:
                self.monitor.alarm.expiry = None
        task = flight.task
        if task.done() and not task.cancelled() and (expiry is None or not expiry.over):
            exc = task.exception()
            if exc is not None:
                window.step_failed(self.loop, self.hosts, exc)
        self._keep_loop_shared(window)
        if expiry is None or not expiry.over:
            return None
        window.restart_deadline()  # a fresh allowance for its teardown, as serially
        raised = None if task.cancelled() or not task.done() else task.exception()
        blocked = raised if isinstance(raised, LoopBlocked) else window._blocked_in_callback
        window._blocked_in_callback = None
        return expiry.message(blocked)

    def outcome(self, window: Window) -> Any:
        """:meth:`done`, then the test's result: its task's value, or its exception, or
        ``StepTimeout`` (the report: its own pending tasks' stacks, or where it blocked the
        loop) when its deadline cancelled it."""
        __tracebackhide__ = True
        report = self.done(window)
        if report is not None:
            raise StepTimeout(report) from None
        return self.flights[window].task.result()

    def _keep_loop_shared(self, window: Window) -> None:
        """Risk 4 of the design: a test that set the shared loop's exception handler, task
        factory or debug mode set them for every test of the batch. Put the batch's back; it is
        the test's loop error."""
        loop = self.loop
        changed = []
        if loop.get_exception_handler() != self._handler:
            loop.set_exception_handler(self._handler)
            changed.append("exception handler (loop.set_exception_handler)")
        if loop.get_task_factory() is not self._factory:
            loop.set_task_factory(self._factory)
            changed.append("task factory (loop.set_task_factory)")
        if loop.get_debug() != self._debug:
            loop.set_debug(self._debug)
            changed.append("debug mode (loop.set_debug)")
        if changed and window.policy.loop_errors != "ignore":
            window.findings.append(
                Finding(
                    "loop_error",
                    window.policy.loop_errors,
                    f"{window.name} replaced the event loop's {' and '.join(changed)}, but it "
                    "shares its loop with the tests that run beside it; awaitest put its own "
                    "back when the test ended.\nPut it back before the test ends, or run the "
                    "test alone: "
                    "@pytest.mark.awaitest(concurrent=False)",
                )
            )

    # -- the loop's hooks --------------------------------------------------------------------

    def _handle_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reporter = _reporter(sys._getframe(1))
        window = self.window_of(context.get("task")) or self.window_of(context.get("future"))
        window = window or self.window_of(context.get("handle"))
        if window is None and reporter is not None:
            window = WINDOW.get()  # reported by code running in a test's context
        if window is None:
            flying = self.in_flight()
            if len(flying) == 1:
                # one test on the loop: nothing else it can be, as on a test's own loop (its
                # window weighs the evidence, the project's or a library's, as serially)
                window = flying[0]
        if window is not None and not window.closed:
            window.loop_error(loop, context, reporter)
            return
        try:
            if window is None:
                self._unattributed(context)
        finally:
            loop.default_exception_handler(context)

    def _unattributed(self, context: dict[str, Any]) -> None:
        """A loop error nothing ties to one test: an advisory, once, of the oldest test in
        flight, naming them all."""
        if isinstance(context.get("exception"), LoopBlocked):
            return
        flying = self.in_flight()
        if not flying or self.monitor.policy.loop_errors == "ignore":
            return
        exc = context.get("exception")
        error = f" ({type(exc).__name__}: {exc})" if isinstance(exc, BaseException) else ""
        names = ", ".join(window.name for window in flying)
        text = (
            "an exception reached the event loop's exception handler while tests ran together "
            f"on one loop ({names}): "
            f"{context.get('message') or 'Unhandled error in event loop'}{error}. Nothing in "
            "it (a task, a callback, the code that reported it) tells which test's it is, so "
            "no test failed for it; asyncio logged it, as it does without awaitest. To find "
            "out whose it is, run these tests one at a time: --asyncio-concurrency 0"
        )
        oldest = flying[0]
        if all(finding.message != text for finding in oldest.findings):
            oldest.findings.append(Finding("loop_error", "warn", text))

    def _on_unawaited(self, coro: Any) -> None:
        window = WINDOW.get()
        if window is None or window.closed or window._previous_hook is None:
            # 1: pass_on, 2: this function, 3: the code that dropped it
            _checks.pass_on(self.previous_hook, coro, stacklevel=3)
            return
        # The filters in place are the batch's, swapped per loop run by the output routes: a
        # test that handles warnings itself (pytest.warns, catch_warnings) runs alone.
        window._on_unawaited(coro, warnings.filters)

    # -- blocking and deadlines ----------------------------------------------------------------

    def step(self) -> _BatchStep:
        """The context manager around one loop run of the batch (not nesting)."""
        return self._step

    def _watch(self, threshold: float = 0.0) -> None:
        watchdog: Watchdog = self.monitor.watchdog(threshold)
        watchdog.batch = self

    def owner_of(self, frame: types.FrameType | None) -> Window | None:
        """The test one of whose tasks' coroutines is on the stack of ``frame`` (sampled from
        the main thread, by the watchdog thread)."""
        stack = set()
        while frame is not None:
            stack.add(frame)
            if frame.f_code is _HANDLE_RUN:
                # a callback the loop is running (call_soon, a done callback): the test's
                # whose context it was scheduled in, as a loop error of it is
                context = context_of(frame.f_locals.get("self"))
                found = None if context is None else context.get(WINDOW)
                if found is not None and found in self.flights and not found.closed:
                    return found
            frame = frame.f_back
        for window in list(self.windows):
            if window.closed:
                continue
            flight = self.flights.get(window)
            tasks: list[asyncio.Task[Any] | None] = [] if flight is None else [flight.task]
            tasks.extend(ref() for ref, _ in window.created())  # created() reads a copy
            for task in tasks:
                code_frame = getattr(task.get_coro() if task else None, "cr_frame", None)
                if code_frame is not None and code_frame in stack:
                    return window
        return None

    def tick(self, now: float, alarm: Alarm) -> None:
        """From the watchdog thread: each started test's deadline, and the loop run's pings.

        A late test's expiry is posted to the loop; while it waits there, the main thread's
        stack says who holds the loop: the late test itself (a grace later, the hard stage
        interrupts it), or another test (seen there twice running: named in the report)."""
        for flight in list(self.flights.values()):
            expiry, deadline_at = flight.expiry, flight.window.deadline_at
            if expiry is None or expiry.closed or expiry.over or deadline_at is None:
                continue
            if expiry.posted_at is None:
                if now < deadline_at:
                    continue
                expiry.posted_at = now
                _post(self.loop, expiry.expire)
            if not self.stepping:
                continue  # no loop run: the expiry runs at the next one
            owner = self.owner_of(sys._current_frames().get(self._thread))
            if owner is not None and owner is not flight.window:
                if flight.holder is owner:
                    expiry.held_by = owner.name
                flight.holder = owner
            if now >= expiry.posted_at + expiry.deadline.grace():
                expiry.posted_at = now  # again a grace later if it didn't take
                if owner is flight.window and alarm.ours():
                    alarm.expiry = expiry
                    expiry.hard_sent = True
                    interrupt_main_thread()
        if self.stepping:
            self._step.tick(now)


class _BatchStep:
    """``with shared.step():`` around one loop run of the batch: pings for the blocking check
    (blamed by the sampled stack), and the deadlines' hard stage allowed."""

    __slots__ = (
        "_owner",
        "_ping_at",
        "_ping_token",
        "_sampled",
        "_shared",
        "_started",
        "_threshold",
    )

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._threshold = 0.0
        self._started = 0.0
        self._ping_at: float | None = None
        self._ping_token: object | None = None
        self._sampled: str | None = None
        self._owner: Window | None = None

    def __enter__(self) -> _BatchStep:
        shared = self._shared
        thresholds = [
            window.policy.blocking_threshold
            for window in shared.windows
            if not window.closed and window.policy.blocking_threshold > 0
        ]
        self._threshold = min(thresholds, default=0.0)
        if self._threshold > 0:
            self._started = shared.monitor.clock()
            shared._watch(self._threshold)
        shared.stepping = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        shared = self._shared
        shared.stepping = False
        alarm = shared.monitor.alarm
        if alarm.expiry is not None and alarm.expiry.belongs is not None:
            alarm.expiry = None  # a batch test's hard stage: only while the loop runs
        if self._ping_at is not None and self._ping_token is not None:
            self._report(shared.monitor.clock() - self._ping_at)
        self._ping_token = self._ping_at = None
        self._sampled = self._owner = None

    def tick(self, now: float) -> None:
        """From the watchdog thread, during the loop run."""
        threshold = self._threshold
        if threshold <= 0:
            return
        if self._ping_at is None:
            if now - self._started >= threshold / 4:
                token = self._ping_token = object()
                self._ping_at = now
                _post(self._shared.loop, lambda: self._ack(token))
        elif now - self._ping_at >= threshold and self._sampled is None:
            frame = sys._current_frames().get(self._shared._thread)
            self._sampled = user_stack(frame)
            self._owner = self._shared.owner_of(frame)

    def _ack(self, token: object) -> None:
        if token is not self._ping_token or self._ping_at is None:
            return
        self._report(self._shared.monitor.clock() - self._ping_at)
        self._ping_token = self._ping_at = None
        self._sampled = self._owner = None

    def _report(self, late: float) -> None:
        # a hold no test's coroutine was on (a library's callback) is nobody's to fail
        if self._owner is not None:
            report_blocking(self._owner, late, self._sampled)


def _unwrapped(factory: Any) -> Any:
    """The factory under a serial window's tracking factory (the user's, or None)."""
    code = getattr(factory, "__code__", None)
    if code is not _FACTORY_CODE:
        return factory
    cells = dict(zip(code.co_freevars, factory.__closure__ or (), strict=True))
    return cells["previous"].cell_contents


def _shared_factory(previous: Any, shared: Shared | None) -> Callable[..., asyncio.Future[Any]]:
    """The batch's task factory, around the loop's own (``previous``): a task is noted by the
    window in the context it is created in (its own ``context=`` if given), while that test is
    running (started) or in one of its own steps; not while a step of a fixture wider than the
    test runs for it (``tracking`` off), so such a fixture's tasks are nobody's leak."""

    def awaitest_batch_task_factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        if previous is not None:
            task: asyncio.Future[Any] = previous(loop, coro, **kwargs)
        elif kwargs:
            task = _Task(coro, loop=loop, **kwargs)
        else:
            task = _Task(coro, loop=loop)
        context = kwargs.get("context")
        window = WINDOW.get() if context is None else context.get(WINDOW)
        if window is None or shared is None or shared._starting or window.closed:
            return task
        shared.owners[task] = window
        if (
            not window._track_tasks
            or type(coro) is _AGEN_CLOSE
            or not (window.tracking or window in shared.flights)
        ):
            return task
        note_created(window, task)
        return task

    return awaitest_batch_task_factory


_checks._shared_factory_code = _shared_factory(None, None).__code__
