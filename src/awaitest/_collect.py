"""Async tests: deciding at collection which are ours and how they run, then running them.

Everything that can be decided before the run (ours or not, marker, loop scope, factory, the
test's argument names) is decided once in :func:`plan` and stored in ``item.stash``, so running
a test is a stash lookup, a loop lookup and ``run_until_complete``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import unittest
import warnings
from collections.abc import Callable
from typing import Any, Final

import pytest

from . import _compat, _marker, _report, _variants, _virtual
from ._errors import AwaitestWarning
from ._fixtures import AsyncFixture
from ._pytest_private import closure_fixturedefs, test_argnames
from ._scopes import Scope, widest
from ._session import FROM_FIXTURE, USER_LOOP, SessionState, TestPlan, note, state_of

_OTHER_ASYNC_MARKERS: Final = ("anyio", "trio")


#: Before Python 3.12 (``inspect.markcoroutinefunction``) a plain function's code flags say
#: whether ``inspect.iscoroutinefunction`` is true; from 3.12 a sync one may be marked.
_FLAGS_DECIDE: Final = sys.version_info < (3, 12)


def is_coroutine_function(obj: object) -> bool:
    """``inspect.iscoroutinefunction``, with a shortcut for plain functions: the ``async def``
    tests, and the sync ones every test suite is mostly made of (asked of every test)."""
    if type(obj) is types.FunctionType:
        if obj.__code__.co_flags & inspect.CO_COROUTINE:
            return True
        if _FLAGS_DECIDE:
            return False
    return inspect.iscoroutinefunction(obj)


def is_async_generator_function(obj: object) -> bool:
    if type(obj) is types.FunctionType:  # the shortcut: flags say it all for plain functions
        return bool(obj.__code__.co_flags & inspect.CO_ASYNC_GENERATOR)
    return inspect.isasyncgenfunction(obj)


def async_function(item: pytest.Item) -> Callable[..., Any] | None:
    """The coroutine function a test item runs: its own, or the one inside hypothesis' @given."""
    if not isinstance(item, pytest.Function):
        return None
    obj = item.obj
    if is_coroutine_function(obj):
        return obj  # type: ignore[no-any-return]
    inner = _hypothesis_inner(obj)
    if inner is not None and is_coroutine_function(inner):
        return inner
    return None


def _hypothesis_inner(obj: object) -> Callable[..., Any] | None:
    handle = getattr(obj, "hypothesis", None)
    if handle is None:
        return None  # not @given (a getattr on None that fails costs an exception)
    inner = getattr(handle, "inner_test", None)
    return inner if callable(inner) else None


def markers(node: pytest.Item) -> list[pytest.Mark]:
    """Every marker of ``node``, closest first: ``list(node.iter_markers())`` without its two
    nested generators (asked twice per async test at collection)."""
    return [mark for parent in node.iter_parents() for mark in parent.own_markers]


def belongs_to_others(item: pytest.Item, marks: list[pytest.Mark] | None = None) -> bool:
    """anyio, trio and unittest run their own async tests. ``marks``: every marker of the
    item, when the caller already has them (one walk up the tree instead of two)."""
    if marks is None:
        marks = markers(item)
    if any(mark.name in _OTHER_ASYNC_MARKERS for mark in marks):
        return True
    if "anyio_backend" in getattr(item, "fixturenames", ()):
        return True
    # A test function's parent is its class or its module: no walk up the tree (``item.cls``).
    parent = item.parent
    if not isinstance(parent, pytest.Class):
        return False
    cls = parent.obj
    return isinstance(cls, type) and issubclass(cls, unittest.TestCase)


def plan(item: pytest.Item, state: SessionState) -> None:
    """Decide whether ``item`` is ours and how it runs; store the decision on the item."""
    every = markers(item)
    marks = [mark for mark in every if mark.name == "asyncio"]
    if async_function(item) is None or belongs_to_others(item, every):
        if marks and isinstance(item, pytest.Function) and not belongs_to_others(item, every):
            note(
                item,
                AwaitestWarning(
                    f"{item.nodeid} is marked with '@pytest.mark.asyncio' but it is not an "
                    "async function. The marker does nothing here: remove it, or if it comes "
                    "from a class or module pytestmark, mark only the async tests."
                ),
            )
        return
    settings = state.settings
    if not marks and not settings.auto:
        return  # strict mode, unmarked: fails with the fix when called (see fail_unclaimed)
    assert isinstance(item, pytest.Function)
    if not any("scope" in mark.kwargs for mark in marks):
        parsed = _marker.parse(item.nodeid, marks)  # the common case: nothing to warn about
        caught = []
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = _marker.parse(item.nodeid, marks)
    for warning in caught:
        if isinstance(warning.message, Warning):
            note(item, warning.message)
    factory = state.default_factory()
    if isinstance(parsed, _marker.MarkerError):
        state.planned[item] = state.shared_plan(
            "function", factory, test_argnames(item), _marker.EMPTY, parsed.message
        )
        return
    if parsed.loop_factories is not None and len(parsed.loop_factories) == 1:
        factory = parsed.loop_factories[0]
    variant = _variants.chosen(item)
    if isinstance(variant, _variants.Problem):
        state.planned[item] = state.shared_plan(
            "function", factory, test_argnames(item), parsed, variant.message
        )
        return
    if variant is not None:
        factory = variant
    if _compat.plan_user_loop(item, state):
        factory = FROM_FIXTURE
    fixtures = [
        spec
        for spec in map(state.async_fixture, closure_fixturedefs(item))
        if spec is not None and spec.claimed
    ]
    scope = _loop_scope(item, parsed, fixtures, state)
    error = None
    user_loop = item.stash[USER_LOOP].fixture if factory == FROM_FIXTURE else None
    if _virtual.wants_clock(
        item.fixturenames, scope, fixtures=fixtures, settings=settings, user_loop=user_loop
    ):
        error = _virtual.misplaced(
            item.nodeid,
            scope,
            marker_scope=parsed.loop_scope,
            fixtures=fixtures,
            settings=settings,
            user_loop=user_loop,
        )
        factory = _virtual.virtual_name(factory)
    state.planned[item] = state.shared_plan(scope, factory, test_argnames(item), parsed, error)


def _loop_scope(
    item: pytest.Function,
    marker: _marker.MarkerSpec,
    fixtures: list[AsyncFixture],
    state: SessionState,
) -> Scope:
    """DESIGN 2.2: the widest loop among the test's default and its async fixtures' loops,
    unless the marker names one; warn once when a fixture is left on another loop."""
    settings = state.settings
    if not fixtures:
        return marker.loop_scope or settings.default_test_loop_scope
    demands = [(spec, spec.demand(settings)) for spec in fixtures]
    if marker.loop_scope is not None:
        scope = marker.loop_scope
    else:
        scope = widest(settings.default_test_loop_scope, *(d for _, d in demands if d))
    apart = [
        (spec.name, demand)
        for spec, demand in demands
        if demand is not None and demand != scope and not spec.follows_test
    ]
    if apart:
        note(item, AwaitestWarning(_mixed_loops_message(item.nodeid, scope, apart)))
    return scope


def _mixed_loops_message(nodeid: str, scope: Scope, apart: list[tuple[str, Scope]]) -> str:
    listed = ", ".join(f"{name!r} on the {demand} loop" for name, demand in apart)
    widest_fixture = widest(*(demand for _, demand in apart))
    first = apart[0][0]
    return (
        f"{nodeid} runs on the {scope} loop but uses async fixtures on other loops: {listed}. "
        "Objects bound to one loop (connections, locks, tasks) fail on another. Fix: "
        f'@pytest.mark.asyncio(loop_scope="{widest_fixture}") on the test, or '
        f'loop_scope="{scope}" on fixture {first!r}'
    )


def run(item: pytest.Function, test_plan: TestPlan, state: SessionState) -> None:
    __tracebackhide__ = True
    _report.call(item, functools.partial(_call, item, test_plan, state))


def _call(item: pytest.Function, test_plan: TestPlan, state: SessionState) -> None:
    __tracebackhide__ = True
    runner = state.runner(item, test_plan.loop_scope, test_plan.factory)
    funcargs = item.funcargs
    kwargs = {name: funcargs[name] for name in test_plan.argnames}
    function = item.obj
    if is_coroutine_function(function):
        runner.run(function(**kwargs))
        return
    # hypothesis: @given wraps the async test in a sync one that calls ``inner_test`` once per
    # example; for this call, inner_test runs each example to completion on the test's loop.
    raw = getattr(function, "__func__", function)
    handle = raw.hypothesis
    inner = handle.inner_test

    @functools.wraps(inner)  # hypothesis reports failing examples under this name
    def run_example(*args: Any, **example_kwargs: Any) -> None:
        __tracebackhide__ = True
        runner.run(inner(*args, **example_kwargs))

    handle.inner_test = run_example
    try:
        function(**kwargs)
    finally:
        handle.inner_test = inner


def fail_unclaimed(item: pytest.Function) -> None:
    """Strict mode: an async test nobody ran fails with both ways to fix it."""
    __tracebackhide__ = True
    pytest.fail(
        f"{item.nodeid} is an async def test but nothing ran it.\n"
        "Mark it with @pytest.mark.asyncio, or set asyncio_mode = auto "
        "to run every async test without a marker.",
        pytrace=False,
    )


class RejectedFunction(pytest.Collector):
    """A test function we can't run: collecting it is an error that says why."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        raise self.CollectError(self.message)


def reject_async_generator(collector: pytest.Collector, name: str) -> RejectedFunction:
    return RejectedFunction.from_parent(
        collector,
        name=name,
        message=(
            f"{collector.nodeid}::{name} is an async generator function (it contains "
            "'yield'), and a test can't yield. Remove the yield, or move the setup and "
            "teardown into an async generator fixture."
        ),
    )


def is_async_test(item: pytest.Item) -> bool:
    """True when awaitest runs ``item`` as an async test.

    Also right before awaitest plans the test: a conftest's ``pytest_collection_modifyitems``
    that marks every async test (the pytest-asyncio recipe for one session loop) runs first.
    """
    state = state_of(item.config)
    if item in state.planned:
        return True
    if async_function(item) is None or belongs_to_others(item):
        return False
    return item.get_closest_marker("asyncio") is not None or state.settings.auto
