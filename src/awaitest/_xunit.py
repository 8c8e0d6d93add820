"""Async xunit-style methods: ``async def setup_method`` and ``teardown_method``,
``setup_class`` and ``teardown_class``, ``setup_function``/``teardown_function`` and
``setup_module``/``teardown_module``.

pytest calls these from autouse fixtures of its own, one per class or module that has them;
an async one gives it a coroutine it drops. For such a fixture (an ``XunitFixture``, found once
per fixture definition, so sync pairs cost nothing per test) awaitest hands pytest a stand-in
for the duration of its setup, as it does for async fixtures (see ``_fixtures``): a one-yield
generator that calls the pair as pytest would and runs the coroutine either returns.

Where: ``setup_method`` and ``setup_function`` on the test's loop, where a function-scoped
async fixture of the test runs, their tasks the test's own. ``setup_class`` and
``setup_module`` on the loop of their class's (module's) tests: planning gives those tests that
loop at least (``SessionState.async_fixtures_of``), so what ``setup_class`` makes works in
them; a test marked onto a wider loop takes them there, one marked onto a narrower one leaves
them on their scope's loop.

Whose: a test awaitest runs gets them run; a sync test too in auto mode or under an ``asyncio``
marker. anyio's and trio's tests keep pytest's behaviour. Any other test (strict mode, no
marker) fails at setup naming the methods and the fix, before either is called.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Generator
from typing import Any, Final

import pytest

from . import _variants
from ._collect import async_function, belongs_to_others
from ._fixture_specs import AsyncFixture, XunitFixture
from ._fixtures import adopt, fixture_runner
from ._loops.current import make_current
from ._loops.runner import Runner, is_coroutine_function
from ._pytest_private.internals import swap_fixture_function
from ._report import Checks
from ._scopes import widest
from ._session import SessionState


def setup(
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    spec: XunitFixture,
    state: SessionState,
    checks: Checks,
) -> Generator[None, Any, Any]:
    """Body of the ``pytest_fixture_setup`` wrapper for a fixture with async xunit methods."""
    __tracebackhide__ = True
    current = state.current
    ours = claim(current, state)
    if ours is None or _method_of_class(spec, request):
        return (yield)  # pytest's: anyio's or trio's test, or nothing to call
    assert current is not None
    if ours:
        if current not in state.planned:
            checks.watch_sync_test(current)  # a sync test: its async methods are watched
        _variants.tie_to_variant(fixturedef, request, current)
        stand_in = _stand_in(spec, state)
    else:
        stand_in = _unclaimed_stand_in(spec, current, fixturedef.baseid)
    original = swap_fixture_function(fixturedef, stand_in)
    try:
        return (yield)
    finally:
        swap_fixture_function(fixturedef, original)


def _method_of_class(spec: XunitFixture, request: pytest.FixtureRequest) -> bool:
    """``setup_function`` is not for a test method (its ``setup_method`` is): pytest's fixture
    only yields for one."""
    return spec.kind == "function" and request.instance is not None


def runs_for(spec: XunitFixture, request: pytest.FixtureRequest, state: SessionState) -> bool:
    """awaitest runs the pair of ``spec`` for the test being set up."""
    return claim(state.current, state) is True and not _method_of_class(spec, request)


def claim(item: pytest.Item | None, state: SessionState) -> bool | None:
    """True: awaitest runs the async xunit methods for ``item``; None: anyio or trio does (or
    nothing is being set up); False: nobody would, and the test fails."""
    if item is None:
        return None
    if item in state.planned:
        return True
    if belongs_to_others(item):
        return None
    if async_function(item) is None:  # a sync test
        return state.settings.auto or item.get_closest_marker("asyncio") is not None
    return False  # an async test in strict mode without a marker


#: How the method kinds' fixtures run: on the test's loop, as a function-scoped async fixture.
_FOLLOWS_TEST: Final = AsyncFixture(
    name="", generator=False, cache_scope="function", loop_scope=None, claimed=True
)


def runner(spec: XunitFixture, request: pytest.FixtureRequest, state: SessionState) -> Runner:
    """The loop the pair of ``spec`` runs on, for the test being set up."""
    __tracebackhide__ = True  # making it runs the user's loop factory
    floor = spec.floor
    if floor is None:
        return fixture_runner(state, _FOLLOWS_TEST, request)
    plan = state.plan_of(state.current)
    scope = floor if plan is None else widest(floor, plan.loop_scope)
    as_fixture = AsyncFixture(
        name="", generator=False, cache_scope=floor, loop_scope=scope, claimed=True
    )
    return fixture_runner(state, as_fixture, request)


def _stand_in(spec: XunitFixture, state: SessionState) -> Callable[..., Any]:
    def async_xunit_methods(request: pytest.FixtureRequest) -> Generator[None, None, None]:
        __tracebackhide__ = True
        loop_runner = runner(spec, request, state)
        if spec.setup is not None:
            func, argument = _target(spec, spec.setup, "setup", request)
            context = contextvars.copy_context()
            _call(loop_runner, func, argument, spec.per_test, context)
            adopt(context, request)  # what it set in contextvars, the test sees
        yield
        if spec.teardown is not None:
            func, argument = _target(spec, spec.teardown, "teardown", request)
            if loop_runner.loop.is_closed() and is_coroutine_function(func):
                pytest.fail(
                    f"{request.node.nodeid}: can't run async def {func.__qualname__}: its "
                    "event loop was closed before it (did a test or fixture call loop.close()?)",
                    pytrace=False,
                )
            _call(loop_runner, func, argument, spec.per_test, None)

    return async_xunit_methods


def _target(
    spec: XunitFixture, func: Callable[..., Any], which: str, request: pytest.FixtureRequest
) -> tuple[Callable[..., Any], object]:
    """What pytest would call, and its argument: the instance's own ``setup_method`` (the
    test's), ``setup_class``'s function (with the class), or the module's function."""
    kind = spec.kind
    if kind == "method":
        method: Callable[..., Any] = getattr(request.instance, f"{which}_method")
        return method, request.function
    if kind == "class":
        return getattr(func, "__func__", func), request.cls
    if kind == "function":
        return func, request.function
    return func, request.module


def _call(
    loop_runner: Runner,
    func: Callable[..., Any],
    argument: object,
    tracked: bool,
    context: contextvars.Context | None,
) -> None:
    """Call ``func`` with ``argument`` if it takes one, as pytest calls xunit methods, and run
    the coroutine it returns (an ``async def``'s) to completion on the loop."""
    __tracebackhide__ = True
    if not loop_runner.loop.is_closed():
        make_current(loop_runner.loop)  # also for a sync one, as for a test's sync fixtures
    count = func.__code__.co_argcount - (1 if inspect.ismethod(func) else 0)
    result = func(argument) if count else func()
    if inspect.iscoroutine(result):
        loop_runner.run(result, context=context, tracked=tracked)


#: For each kind: where the marker goes that makes its methods awaitest's, and their loop.
_FIX: Final = {
    "method": ("the class is marked with @pytest.mark.asyncio", "the test's event loop"),
    "class": ("the class is marked with @pytest.mark.asyncio", "the class's event loop"),
    "module": (
        "the module is marked with pytestmark = pytest.mark.asyncio",
        "the module's event loop",
    ),
    "function": ("the test is marked with @pytest.mark.asyncio", "the test's event loop"),
}


def unclaimed_message(spec: XunitFixture, item: pytest.Item, baseid: str) -> str:
    """Strict mode, a test without a marker: which methods, and both fixes. A class's (a
    module's) methods are named at the class (module): each of its tests gets the message."""
    names = spec.async_names
    listed = " and ".join(names)
    verb, pronoun = ("is", "it") if len(names) == 1 else ("are", "them")
    if spec.per_test:
        where, unmarked = item.nodeid, "the test is"
    else:
        where, unmarked = baseid, "its tests are"
    mark, loop = _FIX[spec.kind]
    return (
        f"{where}: async def {listed} {verb} not run in strict mode: {unmarked} not marked "
        "with @pytest.mark.asyncio.\n"
        f"awaitest runs {pronoun} on {loop} once {mark}, or set asyncio_mode = auto to run "
        "every async test and xunit method without a marker."
    )


def _unclaimed_stand_in(spec: XunitFixture, item: pytest.Item, baseid: str) -> Callable[..., Any]:
    # Failing inside pytest's own setup lets pytest cache the error as the fixture's: each test
    # of the class (module) gets it for an async setup_class (setup_module).
    message = unclaimed_message(spec, item, baseid)

    def unclaimed_async_xunit_methods(request: pytest.FixtureRequest) -> Any:
        __tracebackhide__ = True
        pytest.fail(message, pytrace=False)

    return unclaimed_async_xunit_methods
