"""The run's data: settings, the loop registry, each async test's plan, the fixtures described.

One :class:`SessionState` per run, held by the run's plugin object (``plugin.AwaitestSession``)
and kept in ``config.stash[STATE]`` for the fixtures and public functions that only have a
config to start from.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from . import _marker
from ._advisories import advise
from ._config import Settings
from ._fixture_specs import AsyncFixture, XunitFixture, declared, describe, describe_xunit
from ._loops.factories import LoopKey
from ._loops.flight import Flight
from ._loops.runner import Runner
from ._pytest_private.internals import closure_fixturedefs
from ._record import Record
from ._registry import LoopRegistry, UserLoop
from ._scopes import Node, Scope, fixture_scope, owner_scope, scope_node, widest


class TestPlan(Record):
    """How one async test runs, decided at collection."""

    __slots__ = ("argnames", "checks", "error", "loop", "loop_scope", "marker", "user_loop")

    def __init__(  # noqa: PLR0917 - the fields, in order, as a NamedTuple took them
        self,
        loop_scope: Scope,
        loop: LoopKey,
        argnames: tuple[str, ...],
        marker: _marker.MarkerSpec,
        checks: _marker.CheckOverrides = _marker.NO_OVERRIDES,
        user_loop: UserLoop | None = None,
        error: str | None = None,
    ) -> None:
        self.loop_scope = loop_scope
        self.loop = loop
        self.argnames = argnames
        self.marker = marker
        #: ``@pytest.mark.awaitest(...)``: the test's own settings of the checks.
        self.checks = checks
        #: Set when a user's ``event_loop`` or ``event_loop_policy`` fixture gives the loop.
        self.user_loop = user_loop
        self.error = error  # a bad marker: fails this test at setup


#: What was decided at collection to tell about a test, told when the test is set up: an
#: advisory (a string, see ``_advisories``), or a warning where pytest-asyncio warns too (then
#: a warning filter, ``-W error`` or a ``filterwarnings`` mark, applies to that one test
#: instead of aborting the whole collection).
NOTES: Final = pytest.StashKey[list[Warning | str]]()


def note(item: pytest.Item, told: Warning | str) -> None:
    item.stash.setdefault(NOTES, []).append(told)


_Parsed = _marker.MarkerSpec | _marker.MarkerError


class DeclaredSync:
    """A sync fixture declared with ``awaitest.fixture`` (or ``pytest_asyncio.fixture``): it
    runs with the loop of its loop scope current, described as an async fixture on that loop
    (``spec``). (perf: a plain slots class; one per such definition.)"""

    __slots__ = ("spec",)

    def __init__(self, spec: AsyncFixture) -> None:
        self.spec = spec


#: What awaitest knows about a fixture definition (see ``SessionState.fixtures``).
FixtureSpec = AsyncFixture | XunitFixture | DeclaredSync | None


def _describe(fixturedef: pytest.FixtureDef[Any], settings: Settings) -> FixtureSpec:
    spec = describe(fixturedef, settings) or describe_xunit(fixturedef)
    if spec is not None:
        return spec
    found = declared(fixturedef)
    if found is None:
        return None
    return DeclaredSync(
        AsyncFixture(
            name=fixturedef.argname,
            generator=False,
            cache_scope=fixture_scope(fixturedef),
            loop_scope=found.loop_scope,
            claimed=True,
        )
    )


class NamedRequest:
    """``awaitest.getfixturevalue(request, name)`` setting fixture ``name`` up, between two
    steps of ``requester``, the runner whose loop the awaiting test or fixture runs on;
    ``outer``, the one whose setup asked for this one, if any. (perf: a plain class, not a
    dataclass: made only when the feature is used, it costs every run nothing at import.)"""

    __slots__ = ("name", "outer", "request", "requester")

    def __init__(
        self,
        name: str,
        request: pytest.FixtureRequest,
        requester: Runner,
        outer: NamedRequest | None = None,
    ) -> None:
        self.name = name
        self.request = request
        self.requester = requester
        self.outer = outer

    def enclosing(self, name: str) -> NamedRequest | None:
        """This one or an outer one, setting fixture ``name`` up."""
        named: NamedRequest | None = self
        while named is not None and named.name != name:
            named = named.outer
        return named


class SessionState:
    """What awaitest keeps for the run. perf: a plain class with slots, not a dataclass (making
    one costs every run millions of instructions at import)."""

    __slots__ = (
        "check_markers",
        "current",
        "deprecations",
        "fixtures",
        "flights",
        "last_runner",
        "loops",
        "markers",
        "named",
        "no_user_loop_in",
        "planned",
        "plans",
        "settings",
    )

    def __init__(self, settings: Settings, loops: LoopRegistry) -> None:
        self.settings = settings
        self.loops = loops
        #: Every fixture definition set up or planned for, described once: an async fixture,
        #: a fixture pytest calls async xunit methods from, a sync fixture declared with
        #: ``awaitest.fixture`` (:class:`DeclaredSync`), or None (any other sync fixture).
        #: perf: a sync fixture's declaration is read once per definition, in the same lookup.
        self.fixtures: dict[pytest.FixtureDef[Any], FixtureSpec] = {}
        #: The test being set up, run or torn down: wider fixtures take its loop factory.
        self.current: pytest.Item | None = None
        #: The user-loop fixtures whose deprecation was reported (once per run).
        self.deprecations: set[str] = set()
        #: Markers with arguments, parsed: by the ids of the marker objects (kept alive here).
        self.markers: dict[tuple[int, ...], tuple[tuple[pytest.Mark, ...], _Parsed]] = {}
        #: ``awaitest`` markers parsed, as ``markers``.
        self.check_markers: dict[
            tuple[int, ...],
            tuple[tuple[pytest.Mark, ...], _marker.CheckOverrides | _marker.MarkerError],
        ] = {}
        self.plans: dict[tuple[object, ...], TestPlan] = {}
        #: Every planned test's plan. One dict for the run, not an entry in each item's stash:
        #: a first stash entry grows that item's dict by 160 bytes, 3 MB at 20,000 tests.
        self.planned: dict[pytest.Item, TestPlan] = {}
        #: The fixture ``awaitest.getfixturevalue`` is setting up now, if any (``_by_name``).
        self.named: NamedRequest | None = None
        #: The runner :meth:`test_runner` last found, and for which test (perf: each of a
        #: test's sync fixtures asks for it, then its call: one registry lookup per test).
        self.last_runner: tuple[pytest.Item, Runner] | None = None
        #: The tests in flight in a batch (concurrent tests, ``_batches``); None while
        #: concurrency is off for the run (perf: hooks ask ``flights is not None`` first).
        self.flights: dict[pytest.Item, Flight] | None = None
        #: The parent (class or module) whose tests being generated see no user's
        #: ``event_loop`` or ``event_loop_policy`` fixture (``user_loop.no_user_loop``).
        self.no_user_loop_in: pytest.Collector | None = None

    def async_fixture(self, fixturedef: pytest.FixtureDef[Any]) -> FixtureSpec:
        """What ``fixturedef`` is to awaitest, described on first use."""
        try:
            return self.fixtures[fixturedef]
        except KeyError:
            spec = self.fixtures[fixturedef] = _describe(fixturedef, self.settings)
            return spec

    def async_fixtures_of(self, item: pytest.Function) -> tuple[list[AsyncFixture], Scope | None]:
        """The async fixtures awaitest runs for ``item``, of every fixture it will use, and the
        narrowest loop its class's or module's async ``setup_class``/``setup_module`` leaves
        it (None: no such method)."""
        fixtures: list[AsyncFixture] = []
        floor: Scope | None = None
        for spec in map(self.async_fixture, closure_fixturedefs(item)):
            if spec is None:
                continue
            if type(spec) is AsyncFixture:  # perf: not isinstance
                if spec.claimed:
                    fixtures.append(spec)
            elif type(spec) is XunitFixture and spec.floor is not None:
                floor = spec.floor if floor is None else widest(floor, spec.floor)
        return fixtures, floor

    def has_async_xunit(self, item: pytest.Function) -> bool:
        """``item`` is set up by an xunit method that is async (``async def setup_method``)."""
        return any(type(self.async_fixture(d)) is XunitFixture for d in closure_fixturedefs(item))

    def parse_marker(self, marks: list[pytest.Mark]) -> _Parsed:
        """The test's ``asyncio`` markers parsed once: generating and planning a test ask alike,
        and the tests of a module's ``pytestmark`` share its marker objects."""
        for mark in marks:
            if mark.args or mark.kwargs:
                break
        else:
            return _marker.EMPTY  # bare markers: nearly every test, nothing to keep
        key = tuple(map(id, marks))
        found = self.markers.get(key)
        if found is None:
            found = self.markers[key] = (tuple(marks), _marker.parse(marks))
        return found[1]

    def parse_checks(
        self, marks: list[pytest.Mark]
    ) -> _marker.CheckOverrides | _marker.MarkerError:
        """The test's ``awaitest`` markers parsed once (none: nearly every test)."""
        if not marks:
            return _marker.NO_OVERRIDES
        key = tuple(map(id, marks))
        found = self.check_markers.get(key)
        if found is None:
            found = self.check_markers[key] = (tuple(marks), _marker.parse_checks(marks))
        return found[1]

    def plan_of(self, node: Node | None) -> TestPlan | None:
        """The plan of an async test awaitest runs; None for anything else."""
        return self.planned.get(node) if isinstance(node, pytest.Item) else None

    def shared_plan(
        self,
        loop_scope: Scope,
        loop: LoopKey,
        argnames: tuple[str, ...],
        marker: _marker.MarkerSpec,
        *,
        checks: _marker.CheckOverrides = _marker.NO_OVERRIDES,
        user_loop: UserLoop | None = None,
        error: str | None = None,
    ) -> TestPlan:
        """A test's plan, shared by every test planned alike: thousands of tests hold a few
        plans between them (memory is one of the targets, see benchmarks/)."""
        # perf: a tuple of plain values
        key: tuple[object, ...] = (loop_scope, loop, argnames, marker.loop_scope)
        key += (marker.loop_factories, marker.timeout, checks, user_loop, error)
        found = self.plans.get(key)
        if found is None:
            found = self.plans[key] = TestPlan(
                loop_scope, loop, argnames, marker, checks, user_loop, error
            )
        return found

    def begin(self, item: pytest.Item) -> TestPlan | None:
        """``item`` is being set up: its collection-time notes are told, it becomes the
        current test, and a plan that holds an error fails it. Returns its plan."""
        __tracebackhide__ = True
        if NOTES in item.stash:  # perf: not stash.get()
            for told in item.stash[NOTES]:
                if isinstance(told, str):
                    advise(item, "setup", told)
                else:
                    item.warn(told)
        self.current = item
        plan = self.planned.get(item)
        if plan is not None and plan.error is not None:
            pytest.fail(plan.error, pytrace=False)
        return plan

    def test_runner(self, item: pytest.Item, plan: TestPlan) -> Runner:
        """The runner of the loop ``item`` runs on."""
        __tracebackhide__ = True  # making it runs the user's loop factory
        last = self.last_runner
        if last is not None and last[0] is item and not last[1].closed:
            return last[1]  # a closed runner is out of the registry: ask it again
        if plan.user_loop is None:
            runner = self.loops.runner(item, plan.loop_scope, plan.loop)
            self.last_runner = (item, runner)
            return runner
        return self.loops.user_runner(item, item, plan.loop_scope, "function", plan.user_loop)

    def loop_label(self, runner: Runner) -> str:
        """Which loop ``runner``'s is, as ``--setup-show`` adds it to an async fixture's line."""
        origin = self.loops.origin(runner)
        if origin is None:
            return _USER_EVENT_LOOP
        node, key = origin
        return _label(owner_scope(node), key, self.settings)

    def test_loop_label(self, item: pytest.Item, plan: TestPlan) -> str:
        """Which loop ``item`` runs on, as ``--setup-show`` adds it to the test's line."""
        scope = owner_scope(scope_node(item, plan.loop_scope))
        if plan.user_loop is None:
            key = plan.loop if scope == "function" else plan.loop.real  # as LoopRegistry.runner
            return _label(scope, key, self.settings)
        if plan.user_loop.fixture == "event_loop":
            return _USER_EVENT_LOOP
        return f"(loop: {scope}, the {plan.user_loop.fixture} fixture's policy, real clock)"

    def run_test(self, item: pytest.Function, plan: TestPlan) -> None:
        __tracebackhide__ = True
        runner = self.test_runner(item, plan)
        funcargs = item.funcargs
        runner.run_test(item.obj, {name: funcargs[name] for name in plan.argnames})


STATE: Final = pytest.StashKey[SessionState]()

_USER_EVENT_LOOP: Final = "(loop: the event_loop fixture's)"


def _label(scope: Scope, key: LoopKey, settings: Settings) -> str:
    """``(loop: SCOPE, FACTORY, CLOCK)``, the factory as users name it."""
    if key.policy:
        factory = f"event_loop_policy={settings.event_loop_policy}"
        factory += ", eager tasks" if key.eager else ""
    else:
        factory = key.label
    clock = "virtual clock" if key.virtual else "real clock"
    return f"(loop: {scope}, {factory}, {clock})"
