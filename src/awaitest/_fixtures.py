"""Async fixtures at setup: which loop each runs on, and running it there.

pytest calls fixture functions itself and only knows sync ones. For an async fixture we hand
pytest a sync stand-in for the duration of its setup (see ``_pytest_private``): a function that
runs the coroutine on the fixture's loop, or a one-yield generator that starts the async
generator in a host task and finishes it at teardown. pytest keeps doing the caching and
finalizing.

contextvars: each fixture runs in a copy of the current context; whatever it set is then set in
the current context too (so tests and later fixtures see it) and reset when the fixture ends.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Generator
from typing import Any, Final

import pytest

from . import _by_name, _variants
from ._checks.frames import definition_site
from ._collect import fixture_belongs_to_others
from ._fixture_specs import AsyncFixture
from ._loops.current import make_current
from ._loops.runner import NoYieldError, Runner, SecondYieldError, running_loop
from ._pytest_private.internals import finish_at, forget_setup_error, swap_fixture_function
from ._report import Checks
from ._scopes import Scope, scope_node
from ._session import SessionState


def setup(
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    spec: AsyncFixture,
    state: SessionState,
    checks: Checks,
) -> Generator[None, Any, Any]:
    """Body of the ``pytest_fixture_setup`` wrapper for one of our async fixtures."""
    __tracebackhide__ = True
    if not spec.claimed:
        # Failing inside pytest's own setup (not here, before it) lets pytest cache the
        # error like any fixture's: every later test using a wider-scoped fixture gets it too.
        original = swap_fixture_function(fixturedef, _unclaimed_stand_in(spec, fixturedef, state))
        try:
            return (yield)
        finally:
            swap_fixture_function(fixturedef, original)
    named = state.named
    if named is not None:  # set up for awaitest.getfixturevalue, the requester's loop running
        refused = _by_name.refusal(state, named, spec, fixture_loop_scope(state, spec, request))
        if refused is not None:
            return (yield from _refuse(fixturedef, request, refused))
    current = state.current
    if current is not None and current not in state.planned:
        checks.watch_sync_test(current)  # a sync test: its async fixtures are watched too
    _variants.tie_to_variant(fixturedef, request, current)
    stand_in = _generator_stand_in if spec.generator else _coroutine_stand_in
    original = swap_fixture_function(
        fixturedef,
        stand_in(spec, bound_function(fixturedef.func, request), fixturedef, request, state),
    )
    try:
        return (yield)
    finally:
        swap_fixture_function(fixturedef, original)


def _refuse(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, message: str
) -> Generator[None, Any, Any]:
    """Fail this setup of ``fixturedef`` with ``message``, and let the next one try again."""
    __tracebackhide__ = True

    def refused(**kwargs: Any) -> Any:
        __tracebackhide__ = True
        pytest.fail(message, pytrace=False)

    original = swap_fixture_function(fixturedef, refused)
    try:
        return (yield)
    except BaseException:
        # pytest caches the failure for the fixture's scope; a test requesting it as an
        # argument later would get it too, though that one works.
        forget_setup_error(fixturedef, request)
        raise
    finally:
        swap_fixture_function(fixturedef, original)


def fixture_loop_scope(
    state: SessionState, spec: AsyncFixture, request: pytest.FixtureRequest
) -> Scope:
    """The scope of the loop an async fixture runs on, for the test (or scope) requesting it."""
    plan = state.plan_of(request.node)
    if spec.follows_test and plan is not None:
        return plan.loop_scope
    return spec.demand(state.settings) or "function"


def fixture_runner(
    state: SessionState,
    spec: AsyncFixture,
    request: pytest.FixtureRequest,
    fixturedef: pytest.FixtureDef[Any] | None = None,
) -> Runner:
    """The loop an async fixture runs on, for the test (or scope) requesting it."""
    __tracebackhide__ = True  # making it runs the user's loop factory
    node = request.node
    scope = fixture_loop_scope(state, spec, request)
    current = state.current
    package = None
    if scope == "package" and isinstance(node, pytest.Session) and current is not None:
        # pytest caches a package-scoped fixture at the session when its conftest's
        # directory is no package node (a rootdir with an __init__.py). It still runs on
        # the package loop of the test being set up, and ends with that package.
        package = node = scope_node(current, "package")
    test_plan = state.plan_of(current)
    loops = state.loops
    if current is None or test_plan is None or test_plan.error is not None:
        runner = loops.runner(node, scope, loops.default_key)
    elif test_plan.user_loop is not None:
        runner = loops.user_runner(current, node, scope, spec.cache_scope, test_plan.user_loop)
    else:
        runner = loops.runner(node, scope, test_plan.loop)
    if package is not None and package is not request.node and fixturedef is not None:
        # Registered after the loop's own finalizer, so it runs first (last in, first out).
        finish_at(package, fixturedef, request)
    return runner


def enter_test_loop(state: SessionState) -> Runner | None:
    """Before a sync fixture runs, the loop it should see becomes the current one, so
    ``asyncio.get_event_loop()`` in it (and an ``asyncio.Future`` or ``Queue`` it makes, bound
    to the current loop on older Pythons), at setup and teardown, is the loop its async test
    runs on.

    A sync fixture of an async test we run gets the test's loop, made now if it doesn't exist
    yet; unless a user's ``event_loop`` or ``event_loop_policy`` fixture gives the loop (its own
    fixture makes it current, see ``_compat.fixtures``). Sync tests are left alone: they see no
    loop of ours. (A sync fixture declared with ``pytest_asyncio.fixture``:
    :func:`enter_loop_of_declared`.)

    Returns the test's runner when its loop was made current: if the fixture closes that loop
    before anything ran on it, the caller lets it go
    (``LoopRegistry.forget_if_closed_unused``), as pytest-asyncio never gave it the loop."""
    current = state.current
    last = state.last_runner
    if last is not None and last[0] is current and not last[1].closed:
        # perf: the test's runner found for an earlier fixture (only a test with a plan, no
        # user loop and no error gets one): every later sync fixture of the test
        runner = last[1]
    else:
        plan = state.plan_of(current)
        if plan is None or plan.user_loop is not None or plan.error is not None:
            return None
        assert isinstance(current, pytest.Item)
        runner = state.test_runner(current, plan)
    make_current(runner.loop)
    return runner


def enter_loop_of_declared(
    spec: AsyncFixture, request: pytest.FixtureRequest, state: SessionState
) -> None:
    """A sync fixture declared with ``pytest_asyncio.fixture`` gets the loop of its loop scope
    (for a function-scoped one, the test's loop) as the current one, as pytest-asyncio runs
    it."""
    if not fixture_belongs_to_others(request, state):
        make_current(fixture_runner(state, spec, request).loop)


def bound_function(func: Callable[..., Any], request: pytest.FixtureRequest) -> Callable[..., Any]:
    """The fixture function bound to the test's instance, as pytest itself binds it."""
    instance = request.instance
    owner = getattr(func, "__self__", None)
    if instance is not None and owner is not None and isinstance(instance, type(owner)):
        bound: Callable[..., Any] = getattr(func, "__func__").__get__(instance)  # noqa: B009
        return bound
    return func


def _coroutine_stand_in(
    spec: AsyncFixture,
    func: Callable[..., Any],
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    state: SessionState,
) -> Callable[..., Any]:
    def run_async_fixture(**kwargs: Any) -> Any:
        __tracebackhide__ = True
        runner = _checked_runner(spec, fixturedef, request, state)
        context = contextvars.copy_context()
        value = runner.run(func(**kwargs), context=context, tracked=spec.per_test)
        adopt(context, request)
        return value

    return run_async_fixture


def _generator_stand_in(
    spec: AsyncFixture,
    func: Callable[..., Any],
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    state: SessionState,
) -> Callable[..., Any]:
    def run_async_generator_fixture(**kwargs: Any) -> Generator[Any, None, None]:
        __tracebackhide__ = True
        runner = _checked_runner(spec, fixturedef, request, state)
        context = contextvars.copy_context()
        try:
            host = runner.start_generator(func(**kwargs), context=context, tracked=spec.per_test)
        except NoYieldError:
            pytest.fail(
                f"async fixture {spec.name!r} returned without yielding; "
                "a generator fixture must yield exactly once",
                pytrace=False,
            )
        adopt(context, request)
        yield host.value
        if runner.loop.is_closed():
            pytest.fail(
                f"can't tear down async fixture {spec.name!r}: its event loop was closed "
                "before the fixture's teardown (did a test or fixture call loop.close()?)",
                pytrace=False,
            )
        try:
            host.teardown()
        except SecondYieldError:
            pytest.fail(
                f"async fixture {spec.name!r} yielded a second time; "
                "a generator fixture must yield exactly once",
                pytrace=False,
            )

    return run_async_generator_fixture


def _checked_runner(
    spec: AsyncFixture,
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    state: SessionState,
) -> Runner:
    __tracebackhide__ = True
    if running_loop() is not None:  # plain request.getfixturevalue() in a running test
        pytest.fail(_by_name.inside_running_loop(state, request, spec), pytrace=False)
    return fixture_runner(state, spec, request, fixturedef)


_MISSING: Final = object()


def adopt(context: contextvars.Context, request: pytest.FixtureRequest) -> None:
    """Set in the current context what the fixture set in its own; undo it at fixture end."""
    changed: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    for var, value in context.items():
        if var.get(_MISSING) is not value:
            changed.append((var, var.set(value)))
    if changed:
        request.addfinalizer(lambda: _undo(changed))


def _undo(changed: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]) -> None:
    for var, token in reversed(changed):
        try:
            var.reset(token)
        except ValueError:  # set in another context: nothing of ours to undo there
            pass


def _unclaimed_stand_in(
    spec: AsyncFixture, fixturedef: pytest.FixtureDef[Any], state: SessionState
) -> Callable[..., Any]:
    """Strict mode: an async fixture nobody declared fails, naming the test, the fixture
    (where it is defined) and both fixes. Line one is pytest-asyncio's warning's sentence."""
    current = state.current
    test = "asyncio test" if current in state.planned else "test"
    name = current.name if current is not None else "?"
    site = definition_site(fixturedef.func)
    where = f" ({site})" if site else ""
    lines = [
        f"{test} {name!r} requested async @pytest.fixture {spec.name!r} in strict mode.",
        "awaitest runs it once it is declared with @pytest_asyncio.fixture or @awaitest.fixture "
        f"instead of @pytest.fixture{where}, or set asyncio_mode = auto to run every async "
        "fixture without one.",
    ]
    if spec.cache_scope != "function":
        lines.append(
            f"{spec.name!r} is {spec.cache_scope}-scoped: each test that uses it fails with "
            "this error."
        )
    message = "\n".join(lines)

    def unclaimed_async_fixture(**kwargs: Any) -> Any:
        __tracebackhide__ = True
        pytest.fail(message, pytrace=False)

    return unclaimed_async_fixture
