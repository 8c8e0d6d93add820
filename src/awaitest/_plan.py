"""How each of our async tests runs, decided once at collection into a :class:`TestPlan`.

Everything that can be decided before the run (marker, loop scope, loop factory, the test's
argument names, whether its loop has a virtual clock) is decided in :func:`plan` and kept in
``SessionState.planned``, so running a test is a dict lookup, a loop lookup and
``run_until_complete``.

Virtual time: a clock must be attached to its loop before anything is scheduled there, and it
belongs to that one loop. So whether a test gets one is decided here (:func:`wants_clock`,
:func:`misplaced`), and its plan's :class:`LoopKey` says ``virtual``: the loop registry makes
that loop with a clock attached, and the test, its function-loop async fixtures and
``event_loop`` all find that same loop without knowing it is virtual. Only function-scoped
loops are virtual: a wider loop outlives the test, and its other users would see time jump
under them.
"""

from __future__ import annotations

from typing import Final

import pytest

from ._collect import async_function, belongs_to_others, markers
from ._compat.user_loop import plan_user_loop
from ._config import Settings
from ._fixture_specs import AsyncFixture, test_loop_scope
from ._loops.factories import clock_of, key_of
from ._loops.runner import is_async_generator_function
from ._marker import EMPTY, MarkerError
from ._pytest_private.internals import test_argnames
from ._scopes import Scope, wider, widest
from ._session import STATE, SessionState, note
from ._variants import Problem, chosen
from .clock import VirtualClock

#: The fixture a test requests for virtual time.
CLOCK_FIXTURE: Final = "virtual_clock"


def plan(item: pytest.Item, state: SessionState, *, user_loops: bool) -> None:
    """Decide whether ``item`` is ours and how it runs; keep the decision in ``state.planned``.
    ``user_loops``: whether a user's ``event_loop`` or ``event_loop_policy`` fixture exists
    (``any_user_loop``, asked once for all the tests)."""
    every = markers(item)
    marks = [mark for mark in every if mark.name == "asyncio"]
    if async_function(item) is None:
        if (
            marks
            and isinstance(item, pytest.Function)
            and not is_async_generator_function(item.obj)  # xfailed at collection
            and not belongs_to_others(item, every)
            and not state.has_async_xunit(item)  # the marker runs its async setup_method
        ):
            # pytest-asyncio warns here too, with this class (the wording is its own)
            note(
                item,
                pytest.PytestWarning(
                    f"{item.nodeid} is marked with '@pytest.mark.asyncio' but it is not an "
                    "async function. The marker does nothing here: remove it, or if it comes "
                    "from a class or module pytestmark, mark only the async tests."
                ),
            )
        return
    if belongs_to_others(item, every):
        return
    settings = state.settings
    if not marks and not settings.auto:
        return  # strict mode, unmarked: fails with the fix when called (see fail_if_unclaimed)
    assert isinstance(item, pytest.Function)
    parsed = state.parse_marker(marks)
    for text in parsed.notes:  # deprecations pytest-asyncio warns about, as it does
        note(item, pytest.PytestDeprecationWarning(f"{item.nodeid}: {text}"))
    key = state.loops.default_key
    argnames = test_argnames(item)
    checks = state.parse_checks([mark for mark in every if mark.name == "awaitest"])
    if isinstance(parsed, MarkerError) or isinstance(checks, MarkerError):
        bad = parsed if isinstance(parsed, MarkerError) else checks
        assert isinstance(bad, MarkerError)
        problem = f"{item.nodeid}: {bad.problem}"
        state.planned[item] = state.shared_plan("function", key, argnames, EMPTY, error=problem)
        return
    if parsed.loop_factories is not None and len(parsed.loop_factories) == 1:
        key = key_of(parsed.loop_factories[0])
    variant = chosen(item)
    if isinstance(variant, Problem):
        problem = variant.message
        state.planned[item] = state.shared_plan(
            "function", key, argnames, parsed, checks=checks, error=problem
        )
        return
    if variant is not None:
        key = variant
    if parsed.eager_tasks is not None:
        key = key._replace(eager=parsed.eager_tasks)
    elif settings.eager_tasks:
        key = key._replace(eager=True)  # also a hook's factories
    user_loop = plan_user_loop(item, state) if user_loops else None
    fixtures, floor = state.async_fixtures_of(item)
    scope = test_loop_scope(parsed.loop_scope, fixtures, settings, floor)
    if fixtures:
        _note_mixed_loops(item, scope, fixtures, settings)
    error: str | None = None
    user_fixture = user_loop.fixture if user_loop is not None else None
    if wants_clock(
        item.fixturenames, scope, fixtures=fixtures, settings=settings, user_loop=user_fixture
    ):
        error = misplaced(
            item.nodeid,
            scope,
            marker_scope=parsed.loop_scope,
            fixtures=fixtures,
            settings=settings,
            user_loop=user_fixture,
        )
        key = key.with_clock()
    state.planned[item] = state.shared_plan(
        scope, key, argnames, parsed, checks=checks, user_loop=user_loop, error=error
    )


def _note_mixed_loops(
    item: pytest.Function, scope: Scope, fixtures: list[AsyncFixture], settings: Settings
) -> None:
    """An advisory (pytest-asyncio is silent here) when one of the test's async fixtures is
    left on another loop."""
    placed = [
        (spec, demand)
        for spec in fixtures
        if not spec.follows_test and (demand := spec.demand(settings)) is not None
    ]
    if any(demand != scope for _, demand in placed):
        note(item, mixed_loops_message(scope, placed))


def mixed_loops_message(scope: Scope, placed: list[tuple[AsyncFixture, Scope]]) -> str:
    """The advisory: which fixtures are elsewhere and only fixes awaitest accepts (a fixture's
    loop is never narrower than its own scope), each complete, so applying one ends it."""
    apart = [(spec, demand) for spec, demand in placed if demand != scope]
    listed = ", ".join(f"{spec.name!r} on the {demand} loop" for spec, demand in apart)
    fixes: list[list[str]] = []
    if not any(wider(spec.cache_scope, scope) for spec, _ in apart):
        # the test stays where it is and its fixtures join it
        fixes.append([_on_fixture(spec, scope) for spec, _ in apart])
    target = widest(*(demand for _, demand in placed))
    if target != scope:
        # the test moves to the widest of its fixtures' loops, and so do the others
        moved = [_on_fixture(spec, target) for spec, demand in placed if demand != target]
        fixes.append([f'@pytest.mark.asyncio(loop_scope="{target}") on the test', *moved])
    fixes.sort(key=len)
    return (
        f"The test runs on the {scope} loop but uses async fixtures on other loops: {listed}. "
        "Objects bound to one loop (connections, locks, tasks) fail on another. Fix: "
        + "; or ".join(" and ".join(changes) for changes in fixes)
    )


def _on_fixture(spec: AsyncFixture, loop: Scope) -> str:
    keep = "" if spec.cache_scope == "function" else f'scope="{spec.cache_scope}", '
    return f'@pytest_asyncio.fixture({keep}loop_scope="{loop}") on fixture {spec.name!r}'


def wants_clock(
    fixturenames: list[str],
    scope: Scope,
    *,
    fixtures: list[AsyncFixture],
    settings: Settings,
    user_loop: str | None,
) -> bool:
    """Requested by name, or by ``asyncio_clock = virtual`` for a test on a function loop of
    ours whose async fixtures all run there too. ``user_loop``: the user's fixture
    (``event_loop``, ``event_loop_policy``) the test's loop comes from, if any."""
    if CLOCK_FIXTURE in fixturenames:
        return True
    return (
        settings.clock == "virtual"
        and scope == "function"
        and user_loop is None
        and _wider_fixture(scope, fixtures, settings) is None
    )


def misplaced(
    nodeid: str,
    scope: Scope,
    *,
    marker_scope: Scope | None,
    fixtures: list[AsyncFixture],
    settings: Settings,
    user_loop: str | None,
) -> str | None:
    """Why a test that requests ``virtual_clock`` can't have one, with the fix; None if it can."""
    if user_loop is not None:
        return (
            f"{nodeid} requests virtual_clock but its event loop comes from the user-defined "
            f"{user_loop} fixture, whose clock awaitest can't replace. Fix: remove that "
            f"fixture override for this test, or don't request virtual_clock."
        )
    pinned = marker_scope is not None or settings.default_test_loop_scope != "function"
    wider = _wider_fixture(scope, fixtures, settings)
    if scope != "function" and (pinned or wider is None):
        return (
            f"{nodeid} requests virtual_clock but runs on the {scope}-scoped event loop, "
            "which outlives the test; time can only be virtual on the test's own loop. "
            'Fix: @pytest.mark.asyncio(loop_scope="function") on the test, '
            "or don't request virtual_clock."
        )
    if wider is None:
        return None
    spec, demand = wider
    if spec.cache_scope == "function":
        fix = (
            f'loop_scope="function" on fixture {spec.name!r} so it runs on the test\'s '
            "virtual loop, or don't request virtual_clock."
        )
    else:
        fix = (
            f"don't request virtual_clock in tests that use {spec.name!r}, or make "
            f"{spec.name!r} function-scoped."
        )
    return (
        f"{nodeid} requests virtual_clock but its async fixture {spec.name!r} runs on the "
        f"{demand}-scoped event loop, where time is real, so the two would disagree. Fix: {fix}"
    )


def _wider_fixture(
    scope: Scope, fixtures: list[AsyncFixture], settings: Settings
) -> tuple[AsyncFixture, Scope] | None:
    """The first async fixture of the test that runs on a loop wider than function."""
    for spec in fixtures:
        if spec.follows_test and scope == "function":
            continue
        demand = spec.demand(settings)
        if demand is not None and demand != "function":
            return spec, demand
    return None


@pytest.fixture
def virtual_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """The virtual clock of the requesting test's event loop: ``advance(seconds)``, ``time()``,
    ``autojump_threshold``."""
    __tracebackhide__ = True
    node = request.node
    state = request.config.stash[STATE]
    test_plan = state.plan_of(node)
    if test_plan is None:
        pytest.fail(
            f"{node.nodeid} requests virtual_clock, which only works in async tests that "
            "awaitest runs. Make it an async def test marked with @pytest.mark.asyncio "
            "(or set asyncio_mode = auto).",
            pytrace=False,
        )
    clock = clock_of(state.test_runner(node, test_plan).loop)
    if clock is None:
        pytest.fail(
            f"{node.nodeid} requests virtual_clock but its event loop has a real clock: "
            "it was not made by awaitest (a user-defined event_loop fixture?). "
            "Remove the event_loop override from this test's scope.",
            pytrace=False,
        )
    return clock
