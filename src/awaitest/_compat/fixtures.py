"""The fixtures pytest-asyncio provides: ``event_loop``, ``event_loop_policy``, the ports, and
``_asyncio_loop_factory``, the variant parameter (see ``_variants``).

They are all in this module so that ``pytest --fixtures`` lists them in one section: it groups
fixtures by the module that defines them and hides the ones whose names start with ``_``
without ``-v``, so a module holding only ``_asyncio_loop_factory`` showed an empty section.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Callable
from typing import Any

import pytest

from .._loops.current import current_loop, restore_current_loop, swap_current_loop
from .._loops.factories import LoopFactory, LoopKey
from .._session import STATE, SessionState


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


class PolicyStandIn:
    """What awaitest's ``event_loop_policy`` fixture gives: the part of an event loop policy
    that code written for pytest-asyncio asks of that fixture (looptime calls its
    ``get_event_loop()`` around each test), without the policy API, deprecated from Python 3.14
    on and gone in 3.16."""

    __slots__ = ("_state",)

    def __init__(self, state: SessionState) -> None:
        self._state = state

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; else the loop of the async test being run; else the current one."""
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            pass
        state = self._state
        plan = state.plan_of(state.current)
        if state.current is not None and plan is not None and plan.error is None:
            return state.test_runner(state.current, plan).loop
        loop = current_loop()
        if loop is None:
            raise RuntimeError("there is no current event loop (no async test is being run)")
        return loop

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        asyncio.set_event_loop(loop)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """A new loop from the default factory (``asyncio_loop_factories``' first)."""
        loops = self._state.loops
        return loops.factory(loops.default_key)()


@pytest.fixture(scope="session")
def event_loop_policy(request: pytest.FixtureRequest) -> PolicyStandIn:
    """Stands in for pytest-asyncio's event loop policy: ``get_event_loop()`` is the loop of the
    test being run (overriding this fixture to choose a policy is deprecated)."""
    return PolicyStandIn(request.config.stash[STATE])


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


def _variant_id(param: object) -> str:
    """The variant's name, as its test id has it: what ``--setup-show`` prints after the
    fixture's name (pytest uses a fixture's ``ids`` for that, and a ``LoopKey``'s repr is long)."""
    return param.label if isinstance(param, LoopKey) else type(param).__name__


@pytest.fixture(scope="session", ids=_variant_id)
def _asyncio_loop_factory(request: pytest.FixtureRequest) -> LoopFactory | None:
    """The loop factory of this test variant (pytest-asyncio has a fixture of this name)."""
    key = getattr(request, "param", None)
    return request.config.stash[STATE].loops.factory(key) if isinstance(key, LoopKey) else None
