"""The thread's current event loop: put a runner's loop in place, give back exactly what was
there before, and take a loop down the way ``asyncio.run`` does.

No event loop policy API unless the user's configuration names a policy (the policy API is
deprecated from Python 3.14 and removed in 3.16): loops come from factories, become current
with ``asyncio.set_event_loop``, and what was current before is read from the record asyncio
keeps per thread (:func:`_policy`, :func:`swap_current_loop`). Only a user's
``event_loop_policy`` fixture override gets its policy installed (:func:`swap_policy`).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, Final

from .._checks.frames import user_frames
from . import recycling

#: What was current before a runner's loop: the loop, and whether ``set_event_loop`` was
#: called (perf: a plain tuple, one per test).
_CurrentLoop = tuple[asyncio.AbstractEventLoop | None, bool]

#: Nothing was ever made current: no policy existed yet.
_NOTHING_SET: _CurrentLoop = (None, False)

_events: Final = asyncio.events
_set_event_loop: Final = asyncio.set_event_loop


def _policy() -> object | None:
    """The policy asyncio made or was given, None until anyone needed one. Private: asyncio
    keeps it in a module global (``asyncio.events._event_loop_policy``); reading it is the one
    way to see the current loop without ``asyncio.get_event_loop_policy()``, which is
    deprecated, or ``asyncio.get_event_loop()``, which makes a loop (and warns) when none is
    set. A Python without it (3.16) has no policy: nothing to read."""
    return getattr(_events, "_event_loop_policy", None)


def foreign_policy() -> bool:
    """A policy other than asyncio's own is installed (``uvloop.install()``, a conftest's
    ``set_event_loop_policy``): then ``asyncio.new_event_loop()`` makes that policy's loops."""
    policy = _policy()
    return policy is not None and not type(policy).__module__.startswith("asyncio.")


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The thread's current loop, never making one: from the policy's per-thread record
    (private: ``_local._loop``, in asyncio's default policy and in uvloop's)."""
    loop: asyncio.AbstractEventLoop | None = getattr(
        getattr(_policy(), "_local", None), "_loop", None
    )
    return loop


def swap_current_loop(loop: asyncio.AbstractEventLoop | None) -> _CurrentLoop | None:
    """Make ``loop`` the current loop; return what was current so it can be put back exactly:
    the policy's per-thread record (private: ``_local._loop`` and ``_local._set_called`` in
    asyncio's default policy). A policy without one gives ``None`` back, and is only reset
    with ``set_event_loop(None)`` on restore.
    """
    # perf: once per test, so the lookups of _policy() and current_loop() are inline
    policy = getattr(_events, "_event_loop_policy", None)
    if policy is None:
        previous: _CurrentLoop | None = _NOTHING_SET
    else:
        local = getattr(policy, "_local", None)
        previous = None
        if local is not None:
            previous = (getattr(local, "_loop", None), getattr(local, "_set_called", False))
    _set_event_loop(loop)
    return previous


def make_current(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` current again if something (``asyncio.run`` in a sync test, a test that
    called ``set_event_loop``) replaced it, without touching what a later restore puts back."""
    # perf: once per sync fixture, so current_loop() is inline
    local = getattr(getattr(_events, "_event_loop_policy", None), "_local", None)
    if getattr(local, "_loop", None) is not loop:
        _set_event_loop(loop)


def restore_current_loop(previous: _CurrentLoop | None) -> None:
    if previous is None:
        _set_event_loop(None)
        return
    loop, set_called = previous
    _set_event_loop(None if loop is not None and loop.is_closed() else loop)
    local = getattr(getattr(_events, "_event_loop_policy", None), "_local", None)
    if local is not None and hasattr(local, "_set_called"):
        local._set_called = set_called


def swap_policy(policy: object) -> object:
    """Install an event loop policy (a user's ``event_loop_policy`` fixture); return the old one.

    Policies are deprecated from Python 3.14 on; users who still hand us one were warned when
    their fixture was found, so these calls don't warn again.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(policy)  # type: ignore[arg-type]
    return previous


def restore_policy(previous: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(previous)  # type: ignore[arg-type]


#: The first words of the warning pytest-asyncio issues when taking a loop down fails: suites
#: (and its conformance tests) look for them.
TEARDOWN_PROBLEM: Final = "An exception occurred during teardown of an asyncio.Runner"


def shut_down(loop: asyncio.AbstractEventLoop) -> str | None:
    """Cancel and await what is left, shut down async generators and the executor, close.

    The same steps ``asyncio.run`` takes, so ``finally`` blocks of leftover tasks run. Returns
    what went wrong where pytest-asyncio warns (the loop was closed already, by a test or
    fixture; shutting down raised ``RuntimeError``), for the caller to warn about; None when
    all went well. Any other exception propagates, once the loop is closed.
    """
    if loop.is_closed():
        return (
            f"{TEARDOWN_PROBLEM}: RuntimeError('Event loop is closed'). A test or fixture "
            "closed the event loop, so awaitest could not cancel its remaining tasks or close "
            "its async generators. Leave closing the loop to awaitest: it closes each loop "
            "when its scope ends."
        )
    problem = None
    try:
        if loop.is_running():
            return None  # closed from inside a callback: nothing can be awaited here
        _cancel_all(loop)
        has_asyncgens, has_executor = _leftovers(loop)
        if has_asyncgens:
            problem = _shut(loop, loop.shutdown_asyncgens)
        if has_executor:
            failed = _shut(loop, loop.shutdown_default_executor)  # also after a failure
            problem = problem or failed
    finally:
        if not loop.is_running():
            recycling.reclaim(loop)
            loop.close()
    return problem


def _shut(
    loop: asyncio.AbstractEventLoop, shutdown: Callable[[], Coroutine[Any, Any, None]]
) -> str | None:
    """Run one of the loop's shutdowns; what a ``RuntimeError`` it raised says, else None."""
    try:
        loop.run_until_complete(shutdown())
    except RuntimeError as exc:
        where = user_frames(exc.__traceback__)
        return f"{TEARDOWN_PROBLEM}: shutting the event loop down raised {exc!r}" + (
            f", at:\n{where}" if where else "."
        )
    return None


def _leftovers(loop: asyncio.AbstractEventLoop) -> tuple[bool, bool]:
    """Whether the loop has live async generators, and a default executor, to shut down.

    Each shutdown is a trip around the loop; with a fresh loop per test, skipping the ones
    that have nothing to do is a third of awaitest's per-test cost. asyncio keeps both in
    private attributes of ``BaseEventLoop``; for any other loop class we assume both exist.
    A ``shutdown_asyncgens`` a test put on the loop itself is always called.
    """
    if isinstance(loop, asyncio.BaseEventLoop):
        replaced = "shutdown_asyncgens" in vars(loop)
        return replaced or bool(getattr(loop, "_asyncgens", True)), (
            getattr(loop, "_default_executor", True) is not None
        )
    return True, True


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in a task cancelled at loop teardown",
                    "exception": exc,
                    "task": task,
                }
            )
