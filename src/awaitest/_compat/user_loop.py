"""Users' own ``event_loop`` and ``event_loop_policy`` fixtures: the old ways to choose the
loop. Requested while pytest generates a test (so their ``params`` parametrize it), planned at
collection, and deprecated once per run each: ``event_loop_policy`` with the
``PytestDeprecationWarning`` pytest-asyncio issues for it too, ``event_loop`` (which
pytest-asyncio 1.x ignores without a word) as an advisory, never a warning."""

from __future__ import annotations

from typing import Final

import pytest

from .._checks.frames import definition_site
from .._pytest_private.internals import (
    only_ours,
    request_while_generating,
    set_up_first,
    visible_fixturedef,
    visible_fixturedefs,
)
from .._registry import UserLoop
from .._scopes import fixture_scope
from .._session import SessionState, note
from .fixtures import event_loop, event_loop_policy, is_ours

_OURS: Final = {"event_loop": event_loop, "event_loop_policy": event_loop_policy}
#: The fixtures users override to choose the loop the old way.
USER_FIXTURES: Final = tuple(_OURS)
_ADVICE: Final = {
    "event_loop": (
        "a user-defined event_loop fixture is deprecated (pytest-asyncio removed it in 1.0). "
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
        if defs and not is_ours(defs[-1].func, ours):
            request_while_generating(metafunc, name, defs)
            return True
    return False


def no_user_loop(node: pytest.Item, state: SessionState) -> bool:
    """True when no user's ``event_loop`` or ``event_loop_policy`` fixture is visible to
    ``node``, a test being generated; cheap when no such fixture exists anywhere.

    perf: the answer for the test before, when it has the same parent (its class or module).
    pytest generates a parent's tests one after another, once the parent's own fixtures are
    parsed, so what they can see doesn't change in between.
    """
    parent = node.parent
    if parent is not None and parent is state.no_user_loop_in:
        return True
    if only_ours(node, USER_FIXTURES) or not any(
        visible_fixturedefs(node, name) for name in USER_FIXTURES
    ):
        state.no_user_loop_in = parent
        return True
    return False


def any_user_loop(session: pytest.Session) -> bool:
    """Whether a user's ``event_loop`` or ``event_loop_policy`` fixture exists anywhere: asked
    once when collection is over (every definition is known then), so that planning each test
    looks for one only when there is one."""
    return not only_ours(session, USER_FIXTURES)


def plan_user_loop(item: pytest.Function, state: SessionState) -> UserLoop | None:
    """If a user's ``event_loop`` or ``event_loop_policy`` fixture is visible to ``item``,
    make the test request it first and return it: its loop comes from that fixture. Only asked
    when :func:`any_user_loop` is true."""
    for name, ours in _OURS.items():
        fixturedef = visible_fixturedef(item, name)
        if fixturedef is None or is_ours(fixturedef.func, ours):
            continue
        set_up_first(item, name)
        if name not in state.deprecations:
            state.deprecations.add(name)
            if name == "event_loop":
                site = definition_site(fixturedef.func)
                where = f" at {site}" if site is not None else ""
                note(item, f"The event_loop fixture{where} overrides awaitest's: {_ADVICE[name]}")
            else:
                note(item, pytest.PytestDeprecationWarning(_ADVICE[name]))
        return UserLoop(name, fixture_scope(fixturedef))
    return None
