"""Concurrent tests, the mechanics: the batch's shared loop and each in-flight test's task.

A *batch* is a run of consecutive tests whose calls run as tasks side by side on one loop
(``docs/design/concurrency.md``). pytest's own code (setup, the call's report, teardown) runs one
test at a time, outside the loop; only the tests' coroutines overlap. This module knows nothing
about pytest: a :class:`Flight` is one test in flight (its context, its output sink, its task,
its task's times), a :class:`Batch` the flights sharing a :class:`BatchRunner`, whose every loop
step is wrapped in ``around()`` (the output routes, entered per loop run: see ``routing``).

The *current flight* is a context variable set in each flight's own context once its setup is
over: asyncio runs every step of a task in the task's context, and tasks a test creates
inherit a copy, so whatever asks ``current()`` (the routes, the checks) gets the right test at
every step without anything being switched.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from .routing import Sink
from .runner import Runner, skip_loop_frames

#: The test whose task (or a task it started) is running, or None: pytest's code, the loop's
#: own callbacks, a fixture's setup.
CURRENT: Final[contextvars.ContextVar[Flight | None]] = contextvars.ContextVar(
    "awaitest_current_flight", default=None
)

#: How long Ctrl-C waits for the cancelled tests' tasks to unwind before tearing them down.
UNWIND_SECONDS: Final = 5.0


def current_sink() -> Sink | None:
    """The running context's test's sink: what ``routing.Routes`` routes a write to."""
    flight = CURRENT.get()
    return None if flight is None else flight.sink


class Flight:
    """One test in a batch. ``owner`` is the pytest side's handle on it (its item)."""

    __slots__ = (
        "context",
        "ended",
        "owner",
        "parked",
        "reports",
        "sink",
        "started",
        "task",
        "wall",
    )

    def __init__(self, owner: object) -> None:
        self.owner = owner
        #: The test's own copy of the context its setup ran in (its fixtures' contextvars).
        self.context = contextvars.copy_context()
        self.sink = Sink()
        self.task: asyncio.Task[Any] | None = None
        #: The fixture state taken off pytest's definitions between its phases (pytest's side).
        self.parked: list[tuple[Any, Any]] = []
        #: Its reports made and not emitted yet (the pytest side's), emitted in order.
        self.reports: list[Any] = []
        self.started = 0.0  # perf_counter when the task was made
        self.ended: float | None = None  # perf_counter when the task was done
        self.wall = 0.0  # time.time() when the task was made

    def start(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
        """Make the test's task; it runs whenever the batch's loop next runs."""
        self.context.run(CURRENT.set, self)
        self.wall = time.time()
        self.started = time.perf_counter()
        self.task = loop.create_task(coro, context=self.context)
        self.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.ended = time.perf_counter()

    def landed(self) -> None:
        """The task is done: from now on (the call's report, teardown) nothing runs as this
        test's call, so output goes to pytest's capture of the phase again."""
        self.context.run(CURRENT.set, None)

    @property
    def duration(self) -> float:
        end = self.ended if self.ended is not None else time.perf_counter()
        return end - self.started

    def outcome(self) -> Any:
        """The task's result, or its exception raised here with the test's own traceback."""
        __tracebackhide__ = True
        task = self.task
        assert task is not None
        assert task.done()
        if task.cancelled():
            raise asyncio.CancelledError
        exc = task.exception()
        if exc is None:
            return task.result()
        skip_loop_frames(exc, getattr(task.get_coro(), "cr_code", None))
        try:
            raise exc
        finally:
            del exc


class BatchRunner(Runner):
    """The runner of a batch's loop: every step (a test's async fixture setting up, or the
    batch waiting for a test) runs inside ``around()`` as well as the checks."""

    __slots__ = ("around",)

    def __init__(self, loop: asyncio.AbstractEventLoop, *, owned: bool = True) -> None:
        super().__init__(loop, owned=owned)
        self.around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    def step(
        self, task: asyncio.Future[Any], *, tracked: bool = True
    ) -> contextlib.AbstractContextManager[object]:
        stack = contextlib.ExitStack()
        stack.enter_context(self.around())
        stack.enter_context(super().step(task, tracked=tracked))
        return stack


class Batch:
    """The flights sharing one loop, oldest first; at most ``limit`` with a task not done."""

    __slots__ = ("flights", "key", "limit", "most", "runner")

    def __init__(self, runner: BatchRunner, limit: int, key: object) -> None:
        self.runner = runner
        self.limit = limit
        self.key = key  # what a test must share with the batch to join it (the pytest side's)
        self.flights: list[Flight] = []
        self.most = 0  # the most tasks in flight at once

    def in_flight(self) -> int:
        return sum(1 for f in self.flights if f.task is not None and not f.task.done())

    def full(self) -> bool:
        return len(self.flights) >= self.limit

    def took_off(self) -> None:
        self.most = max(self.most, self.in_flight())

    def land(self, flight: Flight) -> None:
        """Run the loop until ``flight``'s task is done (other tests' tasks progress meanwhile);
        its outcome stays in the task."""
        __tracebackhide__ = True
        task = flight.task
        if task is not None and not task.done():
            loop = self.runner.loop
            landed: asyncio.Future[None] = loop.create_future()
            task.add_done_callback(lambda _: None if landed.done() else landed.set_result(None))
            self.runner.run_steps(landed, task, tracked=False)
        flight.landed()

    def poll(self) -> None:
        """Run the loop one round without waiting for anything (two when the newest test's
        task is done in the first): every task in flight takes the steps it can take now (a
        test's first step, replies that have arrived), so its waits overlap the setups of the
        tests that follow instead of starting when the batch finishes. Outcomes stay in the
        tasks."""
        __tracebackhide__ = True
        task = self.flights[-1].task
        if task is None or task.done():
            return
        for _ in range(2):
            polled: asyncio.Future[None] = self.runner.loop.create_future()
            # done already, so the loop stops after one round: the callbacks ready now and
            # those of the I/O ready now (the round asyncio documents for stop() before
            # run_forever())
            polled.set_result(None)
            self.runner.run_steps(polled, task, tracked=False)
            if not task.done():
                return
            # done in that round: one round more, as run_until_complete() gives a test run
            # alone after its task is done (what it started without awaiting takes its first
            # step, as it would serially)

    def abort(self) -> None:
        """Ctrl-C: cancel every task still in flight and let them unwind (their ``finally``
        blocks, ``async with`` exits), for :data:`UNWIND_SECONDS` at most."""
        pending = [f.task for f in self.flights if f.task is not None and not f.task.done()]
        for task in pending:
            task.cancel()
        if pending and not self.runner.loop.is_closed():
            with contextlib.suppress(BaseException):
                self.runner.loop.run_until_complete(asyncio.wait(pending, timeout=UNWIND_SECONDS))
        for flight in self.flights:
            flight.landed()
