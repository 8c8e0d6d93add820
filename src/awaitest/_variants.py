"""Which loop factories an async test runs on, decided while pytest generates its variants.

Two sources, as in pytest-asyncio: when a plugin or conftest visible from the test implements
``pytest_asyncio_loop_factories(config, item)``, its mapping of names to factories decides;
otherwise the ``asyncio_loop_factories`` ini key does (``event_loop_policy`` replaces its
default). A marker's ``loop_factories=[...]`` selects names in its own order. A name the hook
doesn't offer becomes a skipped variant that says which are available.

A test with more than one factory, or any test under the hook, is parametrized over the
``_asyncio_loop_factory`` fixture, ids being the names. The parameter is a key into
``SessionState.factories``; ``_items.plan`` reads it back from the callspec, so running a test
still needs no fixture lookup. Async fixtures of a wider cache scope are torn down when that
parameter changes (see :func:`tie_to_variant`), so each variant gets fixtures made on its loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest

from . import _marker
from ._loops.factories import FactoryError, LoopFactory
from ._pytest_private import (
    active_fixturedef,
    closure_fixturedefs,
    finish_with,
    only_ours,
    visible_fixturedefs,
)
from ._scopes import Scope, widest
from ._session import SessionState, state_of

FIXTURE: Final = "_asyncio_loop_factory"
#: Fixtures users override to choose the loop the old way (see ``_compat``).
USER_FIXTURES: Final = ("event_loop", "event_loop_policy")


@dataclass(frozen=True, slots=True)
class Problem:
    """A factory choice that can't run; the variant fails at setup with this message."""

    message: str


def nothing_to_decide(
    metafunc: pytest.Metafunc, state: SessionState, marks: list[pytest.Mark]
) -> bool:
    """True when the test can only run on the one configured factory: no hook anywhere, one
    factory in the ini, no marker naming factories, no user ``event_loop``/``event_loop_policy``.
    """
    return (
        not metafunc.config.hook.pytest_asyncio_loop_factories.get_hookimpls()
        and len(state.ini_factories()) == 1
        and not any("loop_factories" in mark.kwargs for mark in marks)
        and (
            only_ours(metafunc.definition, USER_FIXTURES)
            or not any(visible_fixturedefs(metafunc.definition, name) for name in USER_FIXTURES)
        )
    )


def parametrize(metafunc: pytest.Metafunc, state: SessionState, marks: list[pytest.Mark]) -> None:
    definition = metafunc.definition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # _items.plan parses again and reports them
        parsed = _marker.parse(definition.nodeid, marks)
    if isinstance(parsed, _marker.MarkerError):
        return  # _items.plan fails the test with the marker's message
    hook = definition.ihook.pytest_asyncio_loop_factories
    params: list[object]
    ids: list[str]
    if hook.get_hookimpls():
        offered = hook(config=metafunc.config, item=definition)
        problem = _check_hook_result(definition.nodeid, offered)
        if problem is not None:
            params, ids = [problem], [pytest.HIDDEN_PARAM]  # type: ignore[list-item]
        else:
            params, ids = _from_hook(state, offered, parsed.loop_factories)
    else:
        names = parsed.loop_factories or state.ini_factories()
        problem = _check_names(definition.nodeid, state, names)
        if problem is not None:
            params, ids = [problem], [pytest.HIDDEN_PARAM]  # type: ignore[list-item]
        elif len(names) == 1:
            return  # the common case: no variants, _items.plan takes the one name
        else:
            params, ids = list(names), list(names)
    if len(ids) == 1:
        ids = [pytest.HIDDEN_PARAM]  # type: ignore[list-item]
    metafunc.fixturenames.append(FIXTURE)
    metafunc.parametrize(
        FIXTURE, params, ids=ids, indirect=True, scope=_grouping_scope(definition, parsed, state)
    )


def _from_hook(
    state: SessionState, offered: Mapping[str, LoopFactory], selected: tuple[str, ...] | None
) -> tuple[list[object], list[str]]:
    keys = {name: state.register_factory(name, factory) for name, factory in offered.items()}
    if selected is None:
        return list(keys.values()), list(keys)
    available = ", ".join(repr(name) for name in keys)
    params: list[object] = [
        keys[name]
        if name in keys
        else pytest.param(
            None,
            marks=pytest.mark.skip(
                reason=f"Loop factory {name!r} is not available for this test; "
                f"pytest_asyncio_loop_factories offers {available}"
            ),
        )
        for name in selected
    ]
    return params, list(selected)


def _check_hook_result(nodeid: str, offered: object) -> Problem | None:
    if (
        isinstance(offered, Mapping)
        and offered
        and all(isinstance(name, str) and name and callable(f) for name, f in offered.items())
    ):
        return None
    return Problem(
        f"{nodeid}: pytest_asyncio_loop_factories must return a non-empty mapping of factory "
        f"names to loop factories (callables that return a new event loop), not {offered!r}"
    )


def _check_names(nodeid: str, state: SessionState, names: tuple[str, ...]) -> Problem | None:
    for name in names:
        try:
            state.factory(name)
        except FactoryError as exc:
            return Problem(
                f"{nodeid}: mark.asyncio 'loop_factories' requires at least one "
                "pytest_asyncio_loop_factories hook implementation.\n"
                f"No hook offers {name!r}, and awaitest can't load it itself: {exc}"
            )
    return None


def _grouping_scope(
    definition: pytest.Function, marker: _marker.MarkerSpec, state: SessionState
) -> Scope:
    """The loop scope the test will most likely run at (``_items.plan`` decides for real);
    pytest groups the variants of tests sharing that loop, so each factory's loop is made once."""
    if marker.loop_scope is not None:
        return marker.loop_scope
    settings = state.settings
    demands = [
        demand
        for spec in map(state.async_fixture, closure_fixturedefs(definition))
        if spec is not None and spec.claimed and (demand := spec.demand(settings)) is not None
    ]
    return widest(settings.default_test_loop_scope, *demands)


def chosen(item: pytest.Item) -> str | Problem | None:
    """The factory key the variant ``item`` was generated for, if it was parametrized."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or FIXTURE not in callspec.params:
        return None
    param: object = callspec.params[FIXTURE]
    if isinstance(param, str | Problem):
        # Set up first, so a change of variant tears down the fixtures made on the old loop
        # before any of them is taken from pytest's cache.
        names = item.fixturenames  # type: ignore[attr-defined]
        if FIXTURE in names:
            names.remove(FIXTURE)
        names.insert(0, FIXTURE)
        return param
    return None


def tie_to_variant(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, item: pytest.Item | None
) -> None:
    """Tear a wider-scoped async fixture down when the next test runs on another factory."""
    if item is None or fixturedef.scope == "function":
        return
    callspec = getattr(item, "callspec", None)
    if callspec is not None and FIXTURE in callspec.params:
        finish_with(active_fixturedef(request, FIXTURE), fixturedef, request)


@pytest.fixture(scope="session")
def _asyncio_loop_factory(request: pytest.FixtureRequest) -> LoopFactory | None:
    """The loop factory of this test variant (pytest-asyncio has a fixture of this name)."""
    key = getattr(request, "param", None)
    return state_of(request.config).factory(key) if isinstance(key, str) else None
