"""Which loop factories an async test runs on, decided while pytest generates its variants.

Two sources, as in pytest-asyncio: when a plugin or conftest visible from the test implements
``pytest_asyncio_loop_factories(config, item)``, its mapping of names to factories decides;
otherwise the ``asyncio_loop_factories`` ini key does (``event_loop_policy`` replaces its
default). A marker's ``loop_factories=[...]`` selects names in its own order. A name the hook
doesn't offer becomes a skipped variant that says which are available.

A test with more than one factory, or any test under the hook, is parametrized over the
``_asyncio_loop_factory`` fixture (defined in ``_compat.fixtures``), ids being the names. The
parameter is a :class:`LoopKey` of the run's loop registry; ``_plan.plan`` reads it back from
the callspec, so running a test still needs no fixture lookup. Async fixtures of a wider cache
scope are torn down when that parameter changes (see :func:`tie_to_variant`), so each variant
gets fixtures made on its loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pytest

from . import _marker
from ._compat.user_loop import no_user_loop
from ._fixture_specs import test_loop_scope
from ._loops.factories import FactoryError, LoopFactory, LoopKey, key_of
from ._pytest_private.internals import active_fixturedef, also_request, finish_at, set_up_first
from ._record import Record
from ._session import SessionState

VARIANT_FIXTURE: Final = "_asyncio_loop_factory"


class Problem(Record):
    """A factory choice that can't run; the variant fails at setup with this message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def nothing_to_decide(
    metafunc: pytest.Metafunc, state: SessionState, marks: list[pytest.Mark]
) -> bool:
    """True when the test can only run on the one configured factory: no hook anywhere, one
    factory in the ini, no marker naming factories, no user ``event_loop``/``event_loop_policy``.
    """
    return (
        not metafunc.config.hook.pytest_asyncio_loop_factories.get_hookimpls()
        and len(state.loops.ini_keys) == 1
        and not any("loop_factories" in mark.kwargs for mark in marks)
        and no_user_loop(metafunc.definition, state)
    )


def parametrize(metafunc: pytest.Metafunc, state: SessionState, marks: list[pytest.Mark]) -> None:
    definition = metafunc.definition
    parsed = state.parse_marker(marks)
    if isinstance(parsed, _marker.MarkerError):
        return  # _plan.plan fails the test with the marker's message
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
        keys = state.loops.ini_keys
        if parsed.loop_factories is not None:
            keys = tuple(map(key_of, parsed.loop_factories))
        problem = _check_names(definition.nodeid, state, keys)
        if problem is not None:
            params, ids = [problem], [pytest.HIDDEN_PARAM]  # type: ignore[list-item]
        elif len(keys) == 1:
            return  # the common case: no variants, _plan.plan takes the one factory
        else:
            params, ids = list(keys), [key.label for key in keys]
    if len(ids) == 1:
        ids = [pytest.HIDDEN_PARAM]  # type: ignore[list-item]
    also_request(metafunc, VARIANT_FIXTURE)
    # pytest groups the variants of tests that share a loop, so each factory's loop is made once
    fixtures, floor = state.async_fixtures_of(definition)
    scope = test_loop_scope(parsed.loop_scope, fixtures, state.settings, floor)
    metafunc.parametrize(VARIANT_FIXTURE, params, ids=ids, indirect=True, scope=scope)


def _from_hook(
    state: SessionState, offered: Mapping[str, LoopFactory], selected: tuple[str, ...] | None
) -> tuple[list[object], list[str]]:
    keys = {name: state.loops.register(name, factory) for name, factory in offered.items()}
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


def _check_names(nodeid: str, state: SessionState, keys: tuple[LoopKey, ...]) -> Problem | None:
    for key in keys:
        try:
            state.loops.factory(key)
        except FactoryError as exc:
            return Problem(
                f"{nodeid}: mark.asyncio 'loop_factories' requires at least one "
                "pytest_asyncio_loop_factories hook implementation.\n"
                f"No hook offers {key.name!r}, and awaitest can't load it itself: {exc}"
            )
    return None


def chosen(item: pytest.Item) -> LoopKey | Problem | None:
    """The factory the variant ``item`` was generated for, if it was parametrized."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or VARIANT_FIXTURE not in callspec.params:
        return None
    param: object = callspec.params[VARIANT_FIXTURE]
    if isinstance(param, LoopKey | Problem):
        # Set up first, so a change of variant tears down the fixtures made on the old loop
        # before any of them is taken from pytest's cache.
        set_up_first(item, VARIANT_FIXTURE)
        return param
    return None


def tie_to_variant(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, item: pytest.Item | None
) -> None:
    """Tear a wider-scoped async fixture down when the next test runs on another factory."""
    if item is None or fixturedef.scope == "function":
        return
    callspec = getattr(item, "callspec", None)
    if callspec is not None and VARIANT_FIXTURE in callspec.params:
        finish_at(active_fixturedef(request, VARIANT_FIXTURE), fixturedef, request)
