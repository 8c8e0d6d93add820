"""Deadlines for async tests, and the stacks a timed-out test is reported with.

The hard part is a loop that never gets back to its scheduler: ``time.sleep(30)`` in a test
holds the only thread that could notice the deadline. So a deadline has two stages, both driven
by the watchdog thread in ``_checks``:

1. *Soft*: at the deadline the watchdog schedules :meth:`Expiry.expire` on the loop with
   ``call_soon_threadsafe``. On a responsive loop it runs at once, records the stack of every
   pending task (where each one is waiting) and cancels the step's task, so ``finally`` blocks
   and fixture teardown run as usual.
2. *Hard*: if the loop has not run that callback a grace period later, it is blocked. The
   watchdog sends SIGALRM to the main thread (``signal.pthread_kill``); our handler raises
   :class:`LoopBlocked` in whatever frame was running, unless that frame is the loop's own
   machinery. The exception unwinds the blocking code, its traceback names the blocking line, and
   the run goes on -- never ``os._exit``. Without ``pthread_kill`` (Windows) only stage 1 exists.

A deadline that ``covers_sync`` (pytest-timeout's, which awaitest carries: its timer covered the
whole test) also watches the time between steps, when sync fixtures and pytest run: past it the
watchdog interrupts the main thread the same way, and the handler raises the monitor's
``outside_error`` (pytest's ``Failed``, from the pytest side) if the interrupted frame is the
test's code (a sync fixture, a library it called), never inside pytest's, pluggy's, asyncio's or
awaitest's own code (it tries again a grace later).

Under a debugger (pytest's ``--pdb``/``--trace``, a ``sys.settrace`` function from pdb or an
IDE, a ``sys.monitoring`` debugger) deadlines are off, as pytest-timeout does: stopping at a
breakpoint must not fail the test.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from .._record import Record
from .frames import in_loop_machinery, override, pending_stacks, user_frames

KNOWN_DEBUGGERS: Final = ("pydevd", "bdb", "pydevd_frame_evaluator", "debugpy", "pdb")
#: Modules of the test runner and of the loop: a timeout outside the loop is never raised in them.
HARNESS_MODULES: Final = ("_pytest.", "pytest.", "pluggy.", "awaitest.", "asyncio.", "selectors")


class Deadline(Record):
    __slots__ = ("covers_sync", "marker", "seconds", "source")

    def __init__(
        self, seconds: float, source: str, covers_sync: bool = False, marker: str = "awaitest"
    ) -> None:
        self.seconds = seconds
        self.source = source  # what set it, e.g. "asyncio_timeout = 0.2" -- shown in the failure
        #: also the time between steps (sync fixtures, pytest's own work)
        self.covers_sync = covers_sync
        #: The marker that gives one test longer: awaitest's (``timeout=``), the ``asyncio``
        #: marker's when that one set it (it wins over awaitest's), or pytest-timeout's
        #: ``timeout`` for a deadline carried from pytest-timeout.
        self.marker = marker

    def grace(self) -> float:
        """How long a soft expiry may take before the loop counts as blocked."""
        return min(1.0, max(0.05, self.seconds / 2))

    def head(self) -> str:
        return f"timed out after {self.seconds:g} s ({self.source})"

    def longer(self) -> str:
        """The last line of a timeout's report: the one line that gives this test twice the
        time, on the marker that set the deadline."""
        seconds = self.seconds * 2
        if self.marker == "timeout":  # pytest-timeout's marker takes the seconds positionally
            line = f"@pytest.mark.timeout({seconds:g})"
        else:
            line = override("timeout", seconds, self.marker)
        return f"Needs longer? Mark the test: {line}"


class StepTimeout(Exception):
    """A test step ran past its deadline; the message is the whole report."""


class LoopBlocked(BaseException):
    """Raised by the SIGALRM handler in the code that blocked the loop past the deadline.

    A ``BaseException`` so that an ``except Exception`` around the blocking call can't hide it.
    """


#: ``sys.monitoring`` (Python 3.12+), or None. perf: looked up once; a ``getattr`` that misses
#: raises and catches an ``AttributeError`` inside, and this is asked for every test.
_MONITORING: Final[Any] = getattr(sys, "monitoring", None)


def debugger_active() -> bool:
    """True when a debugger is tracing this thread (pdb, debugpy, PyCharm) or is registered
    as the ``sys.monitoring`` debugger tool (Python 3.12+)."""
    monitoring = _MONITORING
    if monitoring is not None and monitoring.get_tool(monitoring.DEBUGGER_ID) is not None:
        return True
    tracer = sys.gettrace()
    if tracer is None:
        return False
    owner = getattr(tracer, "__module__", None) or type(tracer).__module__
    return any(part.startswith(KNOWN_DEBUGGERS) for part in str(owner).split("."))


class Expiry:
    """One step's deadline: the soft expiry run on the loop, and the hard SIGALRM stage."""

    __slots__ = (
        "belongs",
        "blocked",
        "closed",
        "deadline",
        "expired",
        "hard_sent",
        "held_by",
        "hosts",
        "loop",
        "posted_at",
        "report",
        "task",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        task: asyncio.Future[Any],
        deadline: Deadline,
        hosts: Mapping[asyncio.Task[Any], object],
        belongs: Callable[[asyncio.Task[Any]], bool] | None = None,
    ) -> None:
        """``belongs``: in a batch, which pending tasks are the test's (the report lists them
        only); None: every task on the loop."""
        self.loop = loop
        self.belongs = belongs
        self.held_by: str | None = None  # in a batch: another test blocked the loop meanwhile
        self.hosts = hosts
        self.task = task
        self.deadline = deadline
        self.expired = False  # the soft expiry ran and cancelled the task
        self.blocked = False  # the hard stage interrupted blocking code
        self.closed = False  # the step is over: late signals and callbacks do nothing
        self.hard_sent = False
        self.posted_at: float | None = None
        self.report: str | None = None

    def expire(self) -> None:
        """Runs on the loop (stage 1): note every pending task, then cancel the step's task."""
        if self.closed or self.expired or self.task.done() or debugger_active():
            return
        self.expired = True
        self.report = pending_stacks(self.loop, self.hosts, self.belongs)
        self.task.cancel()

    @property
    def over(self) -> bool:
        return self.expired or self.blocked

    def message(self, blocked: LoopBlocked | None) -> str:
        head = self.deadline.head()
        if blocked is not None:
            return (
                f"{head}: the event loop was blocked, and was interrupted in:\n"
                f"{user_frames(blocked.__traceback__)}\n{self.deadline.longer()}"
            )
        held = (
            ""
            if self.held_by is None
            else f" (late: {self.held_by} held the event loop past this test's deadline)"
        )
        return (
            f"{head}{held}; pending tasks at that moment:\n{self.report}\n{self.deadline.longer()}"
        )

    def on_alarm(self, frame: types.FrameType | None) -> None:
        """Stage 2, in the main thread: raise in the blocking code, if the loop is blocked."""
        if self.closed or not self.hard_sent or self.blocked or self.expired:
            return
        if self.task.done() or debugger_active():
            return
        if in_loop_machinery(frame):
            return  # the loop is alive after all; the soft expiry will run
        self.blocked = True
        raise LoopBlocked


class Alarm:
    """Our SIGALRM handler, delivering to the step being run, else to a window whose deadline
    covers sync code (:class:`Outside`).

    Left alone (not installed) when another handler is there, such as pytest-timeout's while it
    times a sync test; installed again once that handler is gone.
    """

    def __init__(self) -> None:
        self.expiry: Expiry | None = None
        self.outside: Interruptible | None = None  # cleared when that window closes
        self._previous: Any = None
        self._installed = False

    @staticmethod
    def available() -> bool:
        """Whether the hard stage can work here: ``pthread_kill``, and the main thread."""
        return (
            hasattr(signal, "pthread_kill")
            and threading.current_thread() is threading.main_thread()
        )

    def usable(self) -> bool:
        """Whether the next step's hard stage can work: available, and SIGALRM ours or free."""
        return self.available() and (self.ours() or _free(signal.getsignal(signal.SIGALRM)))

    def install(self) -> None:
        if not self.available() or self.ours():
            return
        current = signal.getsignal(signal.SIGALRM)
        if not _free(current):
            return
        self._previous = current
        signal.signal(signal.SIGALRM, self._handle)
        self._installed = True

    def ours(self) -> bool:
        return self._installed and signal.getsignal(signal.SIGALRM) == self._handle

    def uninstall(self) -> None:
        if self.ours() and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        self._installed = False

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        expiry = self.expiry
        if expiry is not None:
            expiry.on_alarm(frame)
        elif self.outside is not None:
            self.outside.on_alarm(frame)


def _free(handler: object) -> bool:
    return handler in (signal.SIG_DFL, signal.SIG_IGN, None)


class Interruptible(Protocol):
    def on_alarm(self, frame: types.FrameType | None) -> None: ...


class Outside:
    """A deadline that ``covers_sync``, between steps: when the watchdog interrupts the main
    thread, and the report of the test's code it found stuck."""

    __slots__ = ("deadline", "sent_at")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.sent_at: float | None = None  # an interrupt is on its way (watchdog's clock)

    def due(self, now: float, deadline_at: float) -> bool:
        """From the watchdog thread: time to (again) interrupt the main thread?"""
        if now < deadline_at:
            return False
        return self.sent_at is None or now >= self.sent_at + self.deadline.grace()

    def interruption(self, frame: types.FrameType | None) -> str | None:
        """In the main thread: the report to raise in the stuck code; None when that code is
        the harness's own, or a debugger is active."""
        if self.sent_at is None or debugger_active() or _in_harness(frame):
            return None
        self.sent_at = None
        return (
            f"{self.deadline.head()}: the test was stuck outside the event loop, and was "
            f"interrupted in:\n{_stack_outside_harness(frame)}\n{self.deadline.longer()}"
        )


def _module_of(frame: types.FrameType) -> str:
    return f"{frame.f_globals.get('__name__', '')}."


def _in_harness(frame: types.FrameType | None) -> bool:
    return frame is None or _module_of(frame).startswith(HARNESS_MODULES)


def _stack_outside_harness(frame: types.FrameType | None) -> str:
    """The interrupted code and its callers up to the harness frame that called into it (a
    fixture function called by pytest), outermost first."""
    kept = []
    while frame is not None and not _in_harness(frame):
        kept.append((frame, frame.f_lineno))
        frame = frame.f_back
    return "".join(traceback.StackSummary.extract(reversed(kept)).format()).rstrip()


def interrupt_main_thread() -> None:
    """Stage 2, from the watchdog thread: make the main thread run our SIGALRM handler now
    (a targeted signal also interrupts a ``time.sleep`` there)."""
    kill: Callable[[int, int], None] | None = getattr(signal, "pthread_kill", None)
    ident = threading.main_thread().ident
    if kill is not None and ident is not None:
        kill(ident, signal.SIGALRM)
