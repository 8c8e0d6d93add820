"""What a suite written for pytest-asyncio expects to find: the ``pytest_asyncio`` module, the
``event_loop`` and ``event_loop_policy`` fixtures, the port fixtures.

Old suites chose their loop by overriding a fixture: ``event_loop`` (pytest-asyncio < 1.0, often
session-scoped so that session fixtures and tests share a loop) or ``event_loop_policy``. At
collection, :func:`plan_user_loop` finds such an override visible to an async test, makes the
test request it first, and plans the test on the factory key ``FROM_FIXTURE``: at run time the
loop is the one the fixture returned (borrowed, never closed by us), or a loop of ours made by
the policy it returned. Each of these patterns is deprecated once per run, pointing to the
modern equivalent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import socket
import sys
import types
from collections.abc import Callable
from typing import Any, Final

import pytest

from .._errors import AwaitestDeprecationWarning
from .._fixtures import _DECLARED, AsyncFixture, requested_by_others
from .._loops.factories import current_policy, make_current, restore_current_loop, swap_current_loop
from .._pytest_private import (
    only_ours,
    request_while_generating,
    visible_fixturedef,
    visible_fixturedefs,
)
from .._scopes import is_scope
from .._session import USER_LOOP, SessionState, UserLoop, note, state_of

PYTEST_ASYNCIO_VERSION: Final = "1.5.0"


def install_pytest_asyncio_alias() -> None:
    """Make ``import pytest_asyncio`` give awaitest's compatible API, unless the real one is
    installed (then the plugin refuses to run beside it, see plugin.pytest_configure)."""
    if "pytest_asyncio" in sys.modules:
        return
    try:
        if importlib.util.find_spec("pytest_asyncio") is not None:
            return
    except (ImportError, ValueError):
        return
    from .. import _collect, _fixtures

    module = types.ModuleType(
        "pytest_asyncio",
        # PYTEST_DONT_REWRITE: a test file saying pytest_plugins = "pytest_asyncio" must not get
        # "already imported, can't rewrite" warnings for this alias.
        "awaitest's stand-in for pytest-asyncio's public API. PYTEST_DONT_REWRITE",
    )
    module.fixture = _fixtures.fixture  # type: ignore[attr-defined]
    module.is_async_test = _collect.is_async_test  # type: ignore[attr-defined]
    module.__version__ = PYTEST_ASYNCIO_VERSION  # type: ignore[attr-defined]
    module.__all__ = ["fixture", "is_async_test"]  # type: ignore[attr-defined]
    sys.modules["pytest_asyncio"] = module


@pytest.fixture
def event_loop(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoop:
    """The event loop the requesting test runs on."""
    state = state_of(request.config)
    node = request.node
    plan = state.plan_of(node)
    if plan is not None:
        return state.runner(node, plan.loop_scope, plan.factory).loop
    scope = state.settings.default_fixture_loop_scope or "function"
    return state.runner(node, scope, state.default_factory()).loop


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """The policy event loops come from (pytest-asyncio's; overriding it is deprecated)."""
    return current_policy()  # policies are deprecated from Python 3.14 on; this doesn't warn


_OURS: Final = {"event_loop": event_loop, "event_loop_policy": event_loop_policy}
_USER_FIXTURES: Final = tuple(_OURS)
_ADVICE: Final = {
    "event_loop": (
        "A user-defined event_loop fixture is deprecated (pytest-asyncio removed it in 1.0). "
        "awaitest runs the tests and async fixtures that see it on the loop it returns; to "
        "share one loop without it, delete the fixture and mark the tests "
        '@pytest.mark.asyncio(loop_scope="session") (or set asyncio_default_test_loop_scope '
        '= session) and give async fixtures loop_scope="session".'
    ),
    "event_loop_policy": (
        "Overriding the event_loop_policy fixture is deprecated, as in pytest-asyncio. "
        "awaitest makes loops from the policy it returns; instead, set the ini key "
        "event_loop_policy (e.g. uvloop.EventLoopPolicy) or asyncio_loop_factories, or "
        "implement the pytest_asyncio_loop_factories hook."
    ),
}


def request_user_loop(metafunc: pytest.Metafunc) -> bool:
    """While pytest generates an async test: if a user's ``event_loop_policy`` or ``event_loop``
    override is visible, request it, so that its ``params`` parametrize the test, and return
    True: that fixture chooses the loop, loop factories don't."""
    for name, ours in _OURS.items():
        defs = visible_fixturedefs(metafunc.definition, name)
        if defs and not _is_ours(defs[-1].func, ours):
            request_while_generating(metafunc, name, defs)
            return True
    return False


def plan_user_loop(item: pytest.Function, state: SessionState) -> bool:
    """If a user's ``event_loop`` or ``event_loop_policy`` fixture is visible to ``item``,
    make the test request it first and return True: its loop comes from that fixture."""
    if only_ours(item, _USER_FIXTURES):
        return False
    for name, ours in _OURS.items():
        fixturedef = visible_fixturedef(item, name)
        if fixturedef is None or _is_ours(fixturedef.func, ours):
            continue
        scope = fixturedef.scope
        item.stash[USER_LOOP] = UserLoop(name, scope if is_scope(scope) else "function")
        names = item.fixturenames
        if name in names:
            names.remove(name)
        names.insert(0, name)
        if name not in state.deprecations:
            state.deprecations.add(name)
            note(item, AwaitestDeprecationWarning(_ADVICE[name]))
        return True
    return False


def _is_ours(func: Callable[..., Any], ours: object) -> bool:
    wrapped = getattr(ours, "__wrapped__", None)
    return func is ours or (wrapped is not None and func is wrapped)


def make_event_loop_current(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, loop: object
) -> None:
    """Once a user's ``event_loop`` fixture is set up, its loop is the current one (as in
    pytest-asyncio 0.21), so sync fixtures calling ``asyncio.get_event_loop()`` get it. Before
    their fixture's teardown closes it, the loop that was current comes back."""
    if _is_ours(fixturedef.func, event_loop) or not isinstance(loop, asyncio.AbstractEventLoop):
        return
    if not loop.is_closed():
        previous = swap_current_loop(loop)
        request.addfinalizer(functools.partial(restore_current_loop, previous))


def mark_auto_mode_tests(collected: list[Any]) -> None:
    """In auto mode, pytest-asyncio gives each async test it runs an ``asyncio`` marker, and
    conftests find them with ``item.get_closest_marker("asyncio")``: so do we."""
    from .._collect import belongs_to_others

    for item in collected:
        if (
            isinstance(item, pytest.Function)
            and item.get_closest_marker("asyncio") is None
            and not belongs_to_others(item)
        ):
            item.add_marker("asyncio")


def enter_loop_of_declared_sync_fixture(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, state: SessionState
) -> None:
    """A sync fixture declared with ``pytest_asyncio.fixture`` runs with the loop of its loop
    scope current (for a function-scoped one, the test's loop), as pytest-asyncio runs it: so
    ``asyncio.get_event_loop()`` in it, at setup and teardown, is the loop the test runs on."""
    func = fixturedef.func
    try:
        declared = _DECLARED.get(getattr(func, "__func__", func))
    except TypeError:  # a callable that can't be weakly referenced: not declared by us
        return
    if declared is None or requested_by_others(request):
        return
    scope = fixturedef.scope
    spec = AsyncFixture(
        name=fixturedef.argname,
        generator=False,
        cache_scope=scope if is_scope(scope) else "function",
        loop_scope=declared.loop_scope,
        claimed=True,
    )
    make_current(state.fixture_runner(spec, request).loop)


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
