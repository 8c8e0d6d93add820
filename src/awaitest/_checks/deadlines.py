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

Under a debugger (pytest's ``--pdb``/``--trace``, a ``sys.settrace`` function from pdb or an
IDE, a ``sys.monitoring`` debugger) deadlines are off, as pytest-timeout does: stopping at a
breakpoint must not fail the test.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .frames import in_loop_machinery, override, pending_stacks, user_frames

KNOWN_DEBUGGERS: Final = ("pydevd", "bdb", "pydevd_frame_evaluator", "debugpy", "pdb")


@dataclass(frozen=True, slots=True)
class Deadline:
    seconds: float
    source: str  # what set it, e.g. "asyncio_timeout = 0.2" -- shown in the failure
    #: The marker whose ``timeout=`` gives one test longer: ``asyncio`` when that one set it
    #: (it wins over awaitest's).
    marker: str = "awaitest"

    def grace(self) -> float:
        """How long a soft expiry may take before the loop counts as blocked."""
        return min(1.0, max(0.05, self.seconds / 2))


class StepTimeout(Exception):
    """A test step ran past its deadline; the message is the whole report."""


class LoopBlocked(BaseException):
    """Raised by the SIGALRM handler in the code that blocked the loop past the deadline.

    A ``BaseException`` so that an ``except Exception`` around the blocking call can't hide it.
    """


def debugger_active() -> bool:
    """True when a debugger is tracing this thread (pdb, debugpy, PyCharm) or is registered
    as the ``sys.monitoring`` debugger tool (Python 3.12+)."""
    monitoring = getattr(sys, "monitoring", None)
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
        "blocked",
        "closed",
        "deadline",
        "expired",
        "hard_sent",
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
    ) -> None:
        self.loop = loop
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
        self.report = pending_stacks(self.loop, self.hosts)
        self.task.cancel()

    @property
    def over(self) -> bool:
        return self.expired or self.blocked

    def message(self, blocked: LoopBlocked | None) -> str:
        seconds = self.deadline.seconds
        head = f"timed out after {seconds:g} s ({self.deadline.source})"
        longer = "Needs longer? Mark the test: " + override(
            "timeout", seconds * 2, self.deadline.marker
        )
        if blocked is not None:
            return (
                f"{head}: the event loop was blocked, and was interrupted in:\n"
                f"{user_frames(blocked.__traceback__)}\n{longer}"
            )
        return f"{head}; pending tasks at that moment:\n{self.report}\n{longer}"

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
    """Our SIGALRM handler, installed once per run, delivering to the step being run.

    Left alone (not installed) when another handler is there, such as pytest-timeout's.
    """

    def __init__(self) -> None:
        self.expiry: Expiry | None = None
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if self._installed or not hasattr(signal, "pthread_kill"):
            return
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGALRM)
        if current not in (signal.SIG_DFL, signal.SIG_IGN, None):
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


def interrupt_main_thread() -> None:
    """Stage 2, from the watchdog thread: make the main thread run our SIGALRM handler now
    (a targeted signal also interrupts a ``time.sleep`` there)."""
    kill: Callable[[int, int], None] | None = getattr(signal, "pthread_kill", None)
    ident = threading.main_thread().ident
    if kill is not None and ident is not None:
        kill(ident, signal.SIGALRM)
