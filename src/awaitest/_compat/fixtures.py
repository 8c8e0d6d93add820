"""The fixtures pytest-asyncio provides: ``event_loop``, ``event_loop_policy``, the ports."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Callable
from typing import Any

import pytest

from .._loops.current import current_policy, restore_current_loop, swap_current_loop
from .._session import STATE


@pytest.fixture
def event_loop(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoop:
    """The event loop the requesting test runs on."""
    state = request.config.stash[STATE]
    node = request.node
    plan = state.plan_of(node)
    if plan is not None:
        return state.test_runner(node, plan).loop
    scope = state.settings.default_fixture_loop_scope or "function"
    return state.loops.runner(node, scope, state.loops.default_key).loop


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """The policy event loops come from (pytest-asyncio's; overriding it is deprecated)."""
    return current_policy()  # policies are deprecated from Python 3.14 on; this doesn't warn


def is_ours(func: Callable[..., Any], ours: object) -> bool:
    """Whether a fixture definition's function is the fixture ``ours`` (not a user's override)."""
    wrapped = getattr(ours, "__wrapped__", None)
    return func is ours or (wrapped is not None and func is wrapped)


def make_event_loop_current(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, loop: object
) -> None:
    """Once a user's ``event_loop`` fixture is set up, its loop is the current one (as in
    pytest-asyncio 0.21), so sync fixtures calling ``asyncio.get_event_loop()`` get it. Before
    their fixture's teardown closes it, the loop that was current comes back."""
    if is_ours(fixturedef.func, event_loop) or not isinstance(loop, asyncio.AbstractEventLoop):
        return
    if not loop.is_closed():
        previous = swap_current_loop(loop)
        request.addfinalizer(functools.partial(restore_current_loop, previous))


def _unused_port(kind: socket.SocketKind) -> int:
    with contextlib.closing(socket.socket(type=kind)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_factory(kind: socket.SocketKind) -> Callable[[], int]:
    given: set[int] = set()

    def unused_port() -> int:
        """A free localhost port, never one this factory gave before."""
        port = _unused_port(kind)
        while port in given:
            port = _unused_port(kind)
        given.add(port)
        return port

    return unused_port


@pytest.fixture
def unused_tcp_port() -> int:
    """A localhost TCP port that was free a moment ago."""
    return _unused_port(socket.SOCK_STREAM)


@pytest.fixture
def unused_udp_port() -> int:
    """A localhost UDP port that was free a moment ago."""
    return _unused_port(socket.SOCK_DGRAM)


@pytest.fixture(scope="session")
def unused_tcp_port_factory() -> Callable[[], int]:
    """Call it for free localhost TCP ports; it never returns the same one twice in a run."""
    return _port_factory(socket.SOCK_STREAM)


@pytest.fixture(scope="session")
def unused_udp_port_factory() -> Callable[[], int]:
    """Call it for free localhost UDP ports; it never returns the same one twice in a run."""
    return _port_factory(socket.SOCK_DGRAM)
