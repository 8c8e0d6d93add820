"""The ``asyncio`` loop factory: a new selector loop per call, made cheaply.

Every function-scoped test gets a new loop object of asyncio's own class, and nothing of one
test's loop state (callbacks, timers, tasks, exception handler, task factory) reaches the next.
What a closed loop hands on is only its operating-system plumbing: the selector (an epoll
instance on Linux) and the self-pipe (a socket pair). Making and closing those is a third of
what a new loop costs, and once nothing but the self-pipe is registered they carry no state.

A loop gives its plumbing back (:func:`reclaim`, right before the runner closes it) only when
that is certain: nothing else registered in the selector (no transport, reader or writer left
open), no signal handlers, the selector's methods not patched (a virtual clock), the same
process. Anything else closes the way asyncio closes it.

Private asyncio internals, all in this module and unavoidable (no public API builds a loop
around an existing self-pipe): the attributes ``_selector``, ``_ssock``, ``_csock``,
``_internal_fds`` and ``_signal_handlers``, and the methods ``_make_self_pipe`` and
``_close_self_pipe`` (which instance attributes shadow for one call), ``_read_from_self`` and
``_add_reader``. Where they are missing (another Python, Windows'
proactor loop) :func:`new_event_loop` is plain ``asyncio.new_event_loop``.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import socket
import sys
from typing import Any, Final

_Parts = tuple[selectors.BaseSelector, socket.socket, socket.socket]

_NEEDED: Final = (
    "_make_self_pipe",
    "_close_self_pipe",
    "_read_from_self",
    "_add_reader",
)


def _loop_class() -> type[Any] | None:
    """asyncio's selector loop class, when it has the internals this module relies on."""
    if sys.platform == "win32":
        return None
    cls = asyncio.SelectorEventLoop
    return cls if all(hasattr(cls, name) for name in _NEEDED) else None


_LOOP: Final = _loop_class()

#: Loops of several scopes may be open at once (session, module, the test's); a few spare sets
#: cover the common shapes without holding descriptors nobody will use.
_POOL_SIZE: Final = 4
_pool: list[_Parts] = []
_pool_pid = os.getpid()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new asyncio selector loop, on a closed loop's plumbing when one is spare. For the
    default event loop policy only (``_loops`` decides): other policies make their own."""
    if _LOOP is None:
        return asyncio.new_event_loop()
    parts = _take()
    if parts is None:
        return _LOOP()  # type: ignore[no-any-return]
    selector, ssock, csock = parts
    loop = object.__new__(_LOOP)
    loop._make_self_pipe = _nothing  # __init__ would make a new socket pair
    try:
        _LOOP.__init__(loop, selector)
    finally:
        del loop._make_self_pipe
    loop._ssock, loop._csock = ssock, csock
    loop._internal_fds += 1
    loop._add_reader(ssock.fileno(), loop._read_from_self)
    return loop  # type: ignore[no-any-return]


def reclaim(loop: asyncio.AbstractEventLoop) -> None:
    """Take the plumbing of ``loop``, about to be closed, for the next loop, when it is free.

    Call it only right before ``loop.close()``, with the loop not running.
    """
    if type(loop) is not _LOOP or len(_pool) >= _POOL_SIZE or _pool_pid != os.getpid():
        return
    raw: Any = loop
    selector, ssock, csock = raw._selector, raw._ssock, raw._csock
    if (
        selector is None
        or ssock is None
        or csock is None
        or raw._signal_handlers
        or "select" in vars(selector)  # a virtual clock's patch
        or len(selector.get_map()) != 1  # something besides the self-pipe is registered
    ):
        return
    # The self-pipe stays registered: the next loop's _add_reader then finds the key, swaps in
    # its own reader and cancels this one (no epoll syscalls, no KeyError). Until then the key
    # holds this closed loop's reader, and with it this loop.
    # Wake-up bytes a call_soon_threadsafe left in the pipe are not drained here (a recv that
    # finds none raises, a syscall and an exception per test): the next loop's reader reads
    # them on its first iteration, one spurious wake-up, as any thread's call_soon_threadsafe
    # would cause. Signal numbers can't be among them: loops with signal handlers never get here
    # and a stray one is ignored (no handler registered for it).
    raw._ssock = raw._csock = None
    raw._internal_fds -= 1
    raw._selector = None  # close() then leaves the selector open...
    raw._close_self_pipe = _nothing  # ...and the self-pipe
    _pool.append((selector, ssock, csock))


def _nothing() -> None:
    pass


def _take() -> _Parts | None:
    global _pool_pid  # noqa: PLW0603 - the pool belongs to one process
    if _pool_pid != os.getpid():
        # A forked child shares its parent's epoll instance: never use the inherited ones.
        _pool.clear()
        _pool_pid = os.getpid()
    return _pool.pop() if _pool else None


def close_spares() -> None:
    """Close the plumbing nobody took (at the end of the run: unclosed sockets would warn)."""
    while _pool:
        selector, ssock, csock = _pool.pop()
        selector.close()
        ssock.close()
        csock.close()
