"""The clock awaitest measures its own durations with: real time, whatever clock a test mocks.

Deadlines, grace periods, the blocking check, the leaked tasks' grace and the virtual clock's
real waits must not follow a clock that a test froze or sent travelling. What the two libraries
that suites use for this patch:

* freezegun (``freeze_time``, also with ``tick=True`` or ``real_asyncio=True``) replaces
  ``time.monotonic``, ``time.perf_counter``, ``time.time`` (and their ``_ns`` forms) on the
  ``time`` module and, scanning ``sys.modules``, every module attribute that *is* one of those
  functions (``from time import monotonic``, or ``_clock = time.monotonic``, in any module). It
  does not look inside objects. ``real_asyncio=True`` gives the loop class a real ``time()``.
* time-machine (``travel``, ``shift``) swaps the C implementation of ``time.time``,
  ``time.time_ns``, ``time.clock_gettime`` for ``CLOCK_REALTIME``, ``gmtime``, ``localtime``,
  ``strftime`` and ``datetime``'s ``now``/``utcnow``/``today``, so every reference to those
  functions sees the travelled time. It leaves ``time.monotonic`` alone.

So awaitest reads ``time.monotonic`` as it was when awaitest was imported (pytest loads plugins
before any test runs), held as an attribute of an object, where freezegun's scan does not reach:
never through the ``time`` module, never as a module attribute of ours.

The loop's own time (``loop.time()``) stays the user's: a test that freezes it gets the frozen
loop it asked for, and awaitest's deadlines still fire on time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final


class RealTime:
    """Holds the unpatched clock; ``REAL_TIME.monotonic()`` reads it."""

    __slots__ = ("monotonic",)

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic


REAL_TIME: Final = RealTime(time.monotonic)
