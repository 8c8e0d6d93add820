"""Virtual time for one asyncio event loop.

The hard part: asyncio has no pluggable clock. An event loop reads ``self.time()`` to schedule
timers and to compute how long ``select()`` may block, and it decides that a timer is due when
its deadline is earlier than ``time() + clock resolution``. Nothing tells us, through public
API, that every task is waiting only on timers.

The approach: instance attributes that shadow methods the loop already calls through.

* ``loop.time`` reads this clock instead of ``time.monotonic()``; ``call_later``, ``call_at``,
  ``asyncio.sleep``, ``asyncio.timeout`` and ``asyncio.wait_for`` all go through it.
* ``loop._selector.select`` is wrapped. The loop calls it once per iteration with the time until
  its earliest timer, or 0 when callbacks are ready, or None when nothing is scheduled. A
  positive timeout therefore means "nothing left to do but wait for I/O or a timer": the wrapper
  waits for I/O for at most ``autojump_threshold`` real seconds, and if none arrived it moves
  virtual time to the earliest timer's deadline and returns no events, so the loop runs that
  timer on this same iteration. I/O that arrives is returned first, as on a real loop. That
  real wait is measured with ``_real_clock`` (real time that freezegun or time-machine in the
  test can't change, see ``_realtime``), which tests replace to never wait for real.
* ``loop.run_in_executor`` is wrapped only to track jobs running in threads (``to_thread``,
  ``getaddrinfo``, aiofiles): while one runs, tasks wait on more than timers, so the clock
  doesn't jump and the loop blocks until the thread (or I/O) wakes it. Threads started any
  other way (aiosqlite's, anyio's workers) can't be seen; a jump made while one of them was
  alive is remembered (:func:`jump_beside_threads`), so a ``TimeoutError`` can say why.

Far from zero (past ~1e7 s) ``time() + resolution`` rounds back to ``time()``, so a timer due
at exactly ``time()`` would never look due and the loop would spin; there the clock steps one
float past such a deadline. ``detach()`` deletes the instance attributes again.

The private asyncio internals touched are ``loop._selector`` (``_selector_of``) and
``loop._scheduled`` (``_next_timer_deadline``), read-only, each in one small function.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from ._realtime import REAL_TIME

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["VirtualClock", "VirtualClockError"]

# What asyncio.BaseEventLoop uses as ``_clock_resolution``: a timer runs once its deadline is
# below ``time() + _CLOCK_RESOLUTION``.
_CLOCK_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
# Longest single real wait; selectors overflow on huge timeouts (asyncio caps at one day too).
_MAX_REAL_WAIT: Final = 24 * 3600.0


class VirtualClockError(Exception):
    """This loop can't take a virtual clock (wrong loop type, closed, already has one)."""


class _Selector(Protocol):
    def select(self, timeout: float | None = None) -> list[Any]: ...


def _selector_of(loop: asyncio.AbstractEventLoop) -> _Selector | None:
    # Private, unavoidable: the selector is where the loop blocks, so it is the only place that
    # can tell "every task is waiting" and act before the loop sleeps. No public API exposes it.
    selector = getattr(loop, "_selector", None)
    if selector is None or not callable(getattr(selector, "select", None)):
        return None
    return cast("_Selector", selector)


def _next_timer_deadline(loop: asyncio.AbstractEventLoop) -> float | None:
    # Private, unavoidable: the select() timeout only gives the deadline rounded through a
    # subtraction and capped at one day; jumping to the exact deadline needs the timer heap,
    # whose head is the earliest timer (the loop drops cancelled ones from the head before
    # select()). ``TimerHandle.when()`` itself is public.
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    return scheduled[0].when() if scheduled else None


def _unsupported_loop(loop: asyncio.AbstractEventLoop, factory_name: str) -> VirtualClockError:
    kind = type(loop)
    return VirtualClockError(
        f"the virtual clock needs a selector-based asyncio loop, but loop factory "
        f"{factory_name!r} makes {kind.__module__}.{kind.__qualname__}; "
        f"use the 'asyncio' factory for tests that request virtual_clock"
    )


def _do_nothing() -> None:
    pass


class _InstancePatch:
    """Shadows one attribute of one object with an instance attribute, and undoes it."""

    _ABSENT: Final = object()

    def __init__(self, target: object, name: str, value: object) -> None:
        self._target = target
        self._name = name
        self._saved = vars(target).get(name, self._ABSENT)
        setattr(target, name, value)

    def undo(self) -> None:
        if self._saved is self._ABSENT:
            delattr(self._target, self._name)
        else:
            setattr(self._target, self._name, self._saved)


class VirtualClock:
    """Virtual time for one asyncio loop: when every task waits only on timers, time jumps to
    the next one.

    ``autojump_threshold`` is how many real seconds the loop waits for I/O before jumping
    (0 = just poll; ``math.inf`` = never jump, only ``advance()`` moves time).
    """

    def __init__(self, *, autojump_threshold: float = 0.0, start: float = 0.0) -> None:
        if not math.isfinite(start):
            raise ValueError(f"start must be a finite number of seconds, got {start!r}")
        self._now = float(start)
        self._real_clock: Callable[[], float] = REAL_TIME.monotonic
        # ^ kept as an attribute so that our tests can monkeypatch it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._real_select: Callable[[float | None], list[Any]] | None = None
        self._real_run_in_executor: Callable[..., asyncio.Future[Any]] | None = None
        self._patches: list[_InstancePatch] = []
        self._executor_jobs: set[asyncio.Future[Any]] = set()
        #: Threads alive at attach(): none of them works for this loop's tasks yet.
        self._known_threads: frozenset[int | None] = frozenset()
        #: The last jump made while a thread started since attach() was alive: (from, to,
        #: the threads' names).
        self._jump_beside_threads: tuple[float, float, tuple[str, ...]] | None = None
        self._autojump_threshold = 0.0
        self.autojump_threshold = autojump_threshold

    def __repr__(self) -> str:
        state = "attached" if self._loop is not None else "detached"
        return (
            f"<VirtualClock time={self._now!r} "
            f"autojump_threshold={self._autojump_threshold!r} {state}>"
        )

    def time(self) -> float:
        """The current virtual time; ``loop.time()`` returns this once attached."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward; timers due by then run, in deadline order, on the loop's
        next iteration."""
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(
                f"advance() needs a finite number of seconds >= 0 (time can't go backwards), "
                f"got {seconds!r}"
            )
        self._now += seconds
        self._wake_loop()

    @property
    def autojump_threshold(self) -> float:
        """Real seconds to wait for I/O before jumping to the next timer; ``math.inf`` = never."""
        return self._autojump_threshold

    @autojump_threshold.setter
    def autojump_threshold(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(
                f"autojump_threshold must be >= 0 real seconds (math.inf to never jump), "
                f"got {value!r}"
            )
        self._autojump_threshold = float(value)
        self._wake_loop()

    def attach(self, loop: asyncio.AbstractEventLoop, *, factory_name: str = "asyncio") -> None:
        """Make ``loop.time()`` read this clock and make the loop jump over idle time.

        Attach right after creating the loop, before it schedules anything; ``factory_name``
        only names the loop's origin in the error raised for loops whose clock can't be
        replaced.
        """
        if self._loop is not None:
            raise VirtualClockError(
                "this VirtualClock is already attached to a loop; detach() it first"
            )
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise _unsupported_loop(loop, factory_name)
        if loop.is_closed():
            raise VirtualClockError("cannot attach the virtual clock to a closed loop")
        selector = _selector_of(loop)
        if selector is None:
            raise _unsupported_loop(loop, factory_name)
        if isinstance(getattr(loop.time, "__self__", None), VirtualClock):
            raise VirtualClockError(
                "this loop already has a virtual clock; detach() that one first"
            )
        if _next_timer_deadline(loop) is not None:
            raise VirtualClockError(
                "this loop already has timers scheduled on the real clock; "
                "attach the virtual clock right after creating the loop"
            )
        self._real_select = selector.select
        self._real_run_in_executor = loop.run_in_executor
        self._known_threads = frozenset(t.ident for t in threading.enumerate())
        self._jump_beside_threads = None
        try:
            self._patch(selector, "select", self._select)
            self._patch(loop, "run_in_executor", self._run_in_executor)
            self._patch(loop, "time", self.time)
        except (AttributeError, TypeError) as exc:
            self._undo_patches()
            raise VirtualClockError(
                f"cannot replace the clock of {type(loop).__qualname__}: {exc}"
            ) from exc
        self._loop = loop

    def detach(self) -> None:
        """Give the loop back its real clock; a no-op when not attached.

        Call it after the last ``run_until_complete`` on the loop (the teardown included),
        before or after ``loop.close()``.
        """
        self._undo_patches()
        self._loop = None
        self._real_select = None
        self._real_run_in_executor = None
        self._executor_jobs.clear()

    def _patch(self, target: object, name: str, value: object) -> None:
        self._patches.append(_InstancePatch(target, name, value))

    def _undo_patches(self) -> None:
        while self._patches:
            self._patches.pop().undo()

    def _select(self, timeout: float | None = None) -> list[Any]:
        assert self._loop is not None
        assert self._real_select is not None
        events = self._select_or_jump(self._loop, self._real_select, timeout)
        if self._now + _CLOCK_RESOLUTION == self._now:
            self._let_due_timers_run(self._loop)
        return events

    def _select_or_jump(
        self,
        loop: asyncio.AbstractEventLoop,
        select: Callable[[float | None], list[Any]],
        timeout: float | None,
    ) -> list[Any]:
        if timeout is not None and timeout <= 0:
            return select(timeout)  # callbacks are ready: the loop only polls
        threshold = self._autojump_threshold
        if timeout is None or self._executor_jobs or threshold == math.inf:
            # No timer to jump to, a thread will wake us, or only advance() moves time.
            return select(None)
        events = self._wait_for_io(select, threshold)
        if not events:
            deadline = _next_timer_deadline(loop)
            if deadline is not None and deadline > self._now:
                self._note_threads(deadline)
                self._now = deadline
        return events

    def _note_threads(self, deadline: float) -> None:
        """Remember a jump made while a thread the clock can't see might be working for the
        loop's tasks: one started since attach(), not an idle worker of the loop's default
        executor (named ``asyncio_N``, whose jobs are tracked)."""
        known = self._known_threads
        unseen = tuple(
            thread.name
            for thread in threading.enumerate()
            if thread.ident not in known
            and not (thread.name.startswith("asyncio_") and thread.name[8:].isdigit())
        )
        if unseen:
            self._jump_beside_threads = (self._now, deadline, unseen)

    def _wait_for_io(
        self, select: Callable[[float | None], list[Any]], threshold: float
    ) -> list[Any]:
        give_up_at = self._real_clock() + threshold
        remaining = threshold
        while True:
            events = select(min(remaining, _MAX_REAL_WAIT))
            if events:
                return events
            remaining = give_up_at - self._real_clock()
            if remaining <= 0:
                return events

    def _let_due_timers_run(self, loop: asyncio.AbstractEventLoop) -> None:
        # Past ~1e7 s, ``now + resolution`` rounds back to ``now``, so asyncio would never see a
        # timer due at exactly ``now`` as due and would poll forever. Step one float past it.
        deadline = _next_timer_deadline(loop)
        if deadline is not None and deadline <= self._now:
            self._now = math.nextafter(self._now, math.inf)

    def _run_in_executor(
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        assert self._real_run_in_executor is not None
        future = self._real_run_in_executor(executor, func, *args)
        self._executor_jobs.add(future)
        future.add_done_callback(self._executor_jobs.discard)
        return future

    def _wake_loop(self) -> None:
        # advance() or a new threshold from another thread must not wait for the loop's next
        # I/O event; from the loop's own thread the next iteration sees them anyway.
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            loop.call_soon_threadsafe(_do_nothing)


def jump_beside_threads(clock: VirtualClock) -> tuple[float, float, tuple[str, ...]] | None:
    """The last jump ``clock`` made while a thread it can't see (one started since it was
    attached, not through ``loop.run_in_executor``) was alive: virtual time before and after,
    and the threads' names. None when there was none."""
    return clock._jump_beside_threads
