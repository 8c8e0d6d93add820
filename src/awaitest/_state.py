"""The plugin's state for one run, kept in ``config.stash``: settings and the live loops.

Loops are owned here, keyed by the node that bounds their scope and by factory name. A loop is
made on first use and closed by a finalizer registered on that node at creation, so it closes
after every fixture that used it (pytest runs a node's finalizers last-in, first-out).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from . import _marker, _virtual
from ._checks import Monitor, Window
from ._config import Settings
from ._fixtures import AsyncFixture, describe, requested_by_others
from ._loops import (
    FactoryError,
    LoopFactory,
    load_factory,
    policy_factory,
    restore_policy,
    swap_policy,
)
from ._runner import Runner
from ._scopes import Scope, scope_node, wider

Node = pytest.Item | pytest.Collector

#: The factory name used when the ini ``event_loop_policy`` is set: loops come from that policy.
POLICY: Final = "policy"
#: The factory key of tests whose loop comes from a user's fixture, see :class:`UserLoop`.
FROM_FIXTURE: Final = "fixture"


@dataclass(frozen=True, slots=True)
class UserLoop:
    """A user's own ``event_loop`` (the loop) or ``event_loop_policy`` (the policy loops come
    from) fixture is visible to a test: the old pytest-asyncio ways to choose the loop."""

    fixture: str
    scope: Scope


USER_LOOP: Final = pytest.StashKey[UserLoop]()


@dataclass(frozen=True, slots=True)
class TestPlan:
    """How one async test runs, decided at collection."""

    loop_scope: Scope
    factory: str
    argnames: tuple[str, ...]
    marker: _marker.MarkerSpec
    error: str | None = None  # a bad marker: fails this test at setup


#: Warnings decided at collection, emitted when the test is set up: there a warning filter
#: (``-W error``, a ``filterwarnings`` mark) applies to that one test instead of aborting the
#: whole collection.
NOTES: Final = pytest.StashKey[list[Warning]]()


def note(item: pytest.Item, warning: Warning) -> None:
    item.stash.setdefault(NOTES, []).append(warning)


@dataclass(slots=True)
class SessionState:
    settings: Settings
    factories: dict[str, LoopFactory] = field(default_factory=dict)
    runners: dict[tuple[Node, str], Runner] = field(default_factory=dict)
    fixtures: dict[pytest.FixtureDef[Any], AsyncFixture | None] = field(default_factory=dict)
    #: The test being set up, run or torn down: wider fixtures take its loop factory.
    current: pytest.Item | None = None
    #: Runners around loops users' fixtures own, by loop; never closed by us.
    borrowed: dict[asyncio.AbstractEventLoop, Runner] = field(default_factory=dict)
    deprecations: set[str] = field(default_factory=set)
    plans: dict[tuple[object, ...], TestPlan] = field(default_factory=dict)
    #: Every planned test's plan. One dict for the run, not an entry in each item's stash:
    #: a first stash entry grows that item's dict by 160 bytes, 3 MB at 20,000 tests.
    planned: dict[pytest.Item, TestPlan] = field(default_factory=dict)
    #: The checks' side (``_watch``): the run's monitor, made on first use, and the open
    #: window of each test being run (one at a time, two while Ctrl-C unwinds).
    monitor: Monitor | None = None
    windows: dict[pytest.Item, Window] = field(default_factory=dict)

    def async_fixture(self, fixturedef: pytest.FixtureDef[Any]) -> AsyncFixture | None:
        try:
            return self.fixtures[fixturedef]
        except KeyError:
            spec = self.fixtures[fixturedef] = describe(fixturedef, self.settings)
            return spec

    def plan_of(self, node: Node | None) -> TestPlan | None:
        """The plan of an async test awaitest runs; None for anything else."""
        return self.planned.get(node) if isinstance(node, pytest.Item) else None

    def shared_plan(
        self,
        loop_scope: Scope,
        factory: str,
        argnames: tuple[str, ...],
        marker: _marker.MarkerSpec,
        error: str | None = None,
    ) -> TestPlan:
        """A test's plan, shared by every test planned alike: thousands of tests hold a few
        plans between them (memory is one of the targets, see benchmarks/)."""
        # Keyed by a tuple of plain values: hashing it is C code, a dataclass's hash is not.
        key: tuple[object, ...] = (loop_scope, factory, argnames, marker.loop_scope)
        key += (marker.loop_factories, marker.timeout, error)
        found = self.plans.get(key)
        if found is None:
            found = self.plans[key] = TestPlan(loop_scope, factory, argnames, marker, error)
        return found

    def others_run(self, request: pytest.FixtureRequest) -> bool:
        """Whether anyio or trio runs this async fixture, for the test being set up."""
        current = self.current
        if current is not None and current in self.planned:
            return False  # planned at collection as ours: no anyio or trio marker or backend
        return requested_by_others(request)

    def fixture_runner(
        self,
        spec: AsyncFixture,
        request: pytest.FixtureRequest,
        fixturedef: pytest.FixtureDef[Any] | None = None,
    ) -> Runner:
        """The loop an async fixture runs on, for the test (or scope) requesting it."""
        __tracebackhide__ = True  # making it runs the user's loop factory
        node = request.node
        plan = self.plan_of(node)
        if spec.follows_test and plan is not None:
            scope: Scope = plan.loop_scope
        else:
            scope = spec.demand(self.settings) or "function"
        current = self.current
        package = None
        if scope == "package" and isinstance(node, pytest.Session) and current is not None:
            # pytest caches a package-scoped fixture at the session when its conftest's
            # directory is no package node (a rootdir with an __init__.py). It still runs on
            # the package loop of the test being set up, and ends with that package.
            package = node = scope_node(current, "package")
        test_plan = self.plan_of(current)
        if current is None or test_plan is None or test_plan.error is not None:
            runner = self.runner(node, scope, self.default_factory())
        elif test_plan.factory == FROM_FIXTURE:
            runner = self._from_user_fixture(current, node, scope, spec.cache_scope)
        else:
            runner = self.runner(node, scope, test_plan.factory)
        if package is not None and package is not request.node and fixturedef is not None:
            # Registered after the loop's own finalizer, so it runs first (last in, first out).
            # (pytest_fixture_setup's request is always a SubRequest, a type pytest keeps private)
            package.addfinalizer(functools.partial(fixturedef.finish, request))  # type: ignore[arg-type]
        return runner

    def default_factory(self) -> str:
        if self.settings.event_loop_policy is not None:
            return POLICY
        return self.settings.loop_factories[0]

    def ini_factories(self) -> tuple[str, ...]:
        """The factory names async tests run on when no hook decides."""
        names = self.settings.loop_factories
        if self.settings.event_loop_policy is None:
            return names
        return tuple(POLICY if name == "asyncio" else name for name in names)

    def register_factory(self, name: str, factory: LoopFactory) -> str:
        """A key for a factory a hook returned; names from different conftests may clash."""
        key, n = name, 1
        while self.factories.setdefault(key, factory) != factory:
            n += 1
            key = f"{name}#{n}"
        return key

    def factory(self, name: str) -> LoopFactory:
        factory = self.factories.get(name)
        if factory is None:
            real = _virtual.real_name(name)
            if real is not None:
                factory = _virtual.clocked(self.factory(real), real)
            elif name == POLICY:
                assert self.settings.event_loop_policy is not None
                factory = policy_factory(self.settings.event_loop_policy)
            else:
                factory = load_factory(name)
            self.factories[name] = factory
        return factory

    def check_factories(self) -> None:
        """Import every configured factory now, so a typo is a usage error, not 500 failures."""
        names = list(self.settings.loop_factories)
        if self.settings.event_loop_policy is not None:
            names.append(POLICY)
        for name in names:
            try:
                self.factory(name)
            except FactoryError as exc:
                key = "event_loop_policy" if name == POLICY else "asyncio_loop_factories"
                raise pytest.UsageError(f"{key}: {exc}") from None

    def runner(self, node: Node, scope: Scope, factory: str) -> Runner:
        __tracebackhide__ = True  # making it runs the user's loop factory
        if scope != "function":
            factory = _virtual.real_name(factory) or factory  # only a test's own loop is virtual
        if factory == FROM_FIXTURE and isinstance(node, pytest.Item):
            return self._from_user_fixture(node, node, scope, "function")
        owner = scope_node(node, scope)
        key = (owner, factory)
        runner = self.runners.get(key)
        if runner is None:
            runner = Runner.open(self.factory(factory), debug=self.settings.debug)
            self.runners[key] = runner
            owner.addfinalizer(functools.partial(self._close, key, runner))
        return runner

    def _from_user_fixture(
        self, item: pytest.Item, node: Node, scope: Scope, cache_scope: Scope
    ) -> Runner:
        """The loop of ``item`` (or of a fixture it sets up, cached at ``cache_scope``) when a
        user's fixture chooses it. That fixture is set up first (see ``_compat.plan_user_loop``).
        """
        user = item.stash[USER_LOOP]
        if wider(cache_scope, user.scope):
            # The user's loop (or policy) ends before this fixture does; pytest-asyncio refused
            # this with a ScopeMismatch. Run it on a loop of its own scope instead.
            return self.runner(node, scope, self.default_factory())
        value = item.funcargs[user.fixture]  # type: ignore[attr-defined]
        if user.fixture == "event_loop":
            return self.borrow(value)
        key = self.register_factory(f"policy {type(value).__qualname__}", value.new_event_loop)
        owner = scope_node(node, scope)
        if (owner, key) not in self.runners:
            # Loops of this policy run with it installed, as pytest-asyncio ran them; registered
            # before the runner's own finalizer, the old policy comes back after the loop closed.
            owner.addfinalizer(functools.partial(restore_policy, swap_policy(value)))
        return self.runner(node, scope, key)

    def borrow(self, loop: asyncio.AbstractEventLoop) -> Runner:
        """A runner around a loop a user's ``event_loop`` fixture owns: we never close it."""
        runner = self.borrowed.get(loop)
        if runner is None:
            for old in [old for old in self.borrowed if old.is_closed()]:
                del self.borrowed[old]
            runner = self.borrowed[loop] = Runner(loop, owned=False)
        return runner

    def _close(self, key: tuple[Node, str], runner: Runner) -> None:
        if self.runners.get(key) is runner:
            del self.runners[key]
        try:
            runner.close()
        finally:
            _virtual.detach(runner.loop)


STATE: Final = pytest.StashKey[SessionState]()


#: The last run's config and state: every hook asks for the state, a stash lookup is three
#: Python calls, and nearly always it is the same run asking (pytester runs nest others).
_last: tuple[pytest.Config, SessionState] | None = None


def state_of(config: pytest.Config) -> SessionState:
    global _last  # noqa: PLW0603 - a one-entry cache, see _last
    last = _last
    if last is not None and last[0] is config:
        return last[1]
    state = config.stash[STATE]
    _last = (config, state)
    return state


def forget(config: pytest.Config) -> None:
    """At ``pytest_unconfigure``: don't keep the finished run's config alive."""
    global _last  # noqa: PLW0603 - see _last
    if _last is not None and _last[0] is config:
        _last = None
