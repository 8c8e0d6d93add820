"""The plugin's state for one run, kept in ``config.stash``: settings and the live loops.

Loops are owned here, keyed by the node that bounds their scope and by factory name. A loop is
made on first use and closed by a finalizer registered on that node at creation, so it closes
after every fixture that used it (pytest runs a node's finalizers last-in, first-out).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from . import _marker
from ._config import Settings
from ._fixtures import AsyncFixture, describe
from ._loops import FactoryError, LoopFactory, load_factory, policy_factory
from ._runner import Runner
from ._scopes import Scope, scope_node

Node = pytest.Item | pytest.Collector

#: The factory name used when the ini ``event_loop_policy`` is set: loops come from that policy.
POLICY: Final = "policy"


@dataclass(frozen=True, slots=True)
class TestPlan:
    """How one async test runs, decided at collection."""

    loop_scope: Scope
    factory: str
    argnames: tuple[str, ...]
    marker: _marker.MarkerSpec
    error: str | None = None  # a bad marker: fails this test at setup


PLAN: Final = pytest.StashKey[TestPlan]()
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

    def async_fixture(self, fixturedef: pytest.FixtureDef[Any]) -> AsyncFixture | None:
        try:
            return self.fixtures[fixturedef]
        except KeyError:
            spec = self.fixtures[fixturedef] = describe(fixturedef, self.settings)
            return spec

    def fixture_runner(self, spec: AsyncFixture, request: pytest.FixtureRequest) -> Runner:
        """The loop an async fixture runs on, for the test (or scope) requesting it."""
        node = request.node
        plan = node.stash.get(PLAN, None) if isinstance(node, pytest.Item) else None
        if spec.follows_test and plan is not None:
            scope: Scope = plan.loop_scope
        else:
            scope = spec.demand(self.settings) or "function"
        factory = plan.factory if plan is not None else self.default_factory()
        return self.runner(node, scope, factory)

    def default_factory(self) -> str:
        if self.settings.event_loop_policy is not None:
            return POLICY
        return self.settings.loop_factories[0]

    def factory(self, name: str) -> LoopFactory:
        factory = self.factories.get(name)
        if factory is None:
            if name == POLICY:
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
        owner = scope_node(node, scope)
        key = (owner, factory)
        runner = self.runners.get(key)
        if runner is None:
            runner = Runner.open(self.factory(factory), debug=self.settings.debug)
            self.runners[key] = runner
            owner.addfinalizer(functools.partial(self._close, key, runner))
        return runner

    def adopt(self, node: Node, scope: Scope, factory: str, runner: Runner) -> None:
        """Use a loop someone else owns (a user's ``event_loop`` fixture) for this scope."""
        self.runners[(scope_node(node, scope), factory)] = runner

    def _close(self, key: tuple[Node, str], runner: Runner) -> None:
        if self.runners.get(key) is runner:
            del self.runners[key]
        runner.close()


STATE: Final = pytest.StashKey[SessionState]()


def state_of(config: pytest.Config) -> SessionState:
    return config.stash[STATE]
