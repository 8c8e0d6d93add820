"""Async fixtures: declaring them, deciding their loop, and running them.

pytest calls fixture functions itself and only knows sync ones. For an async fixture we hand
pytest a sync stand-in for the duration of its setup (see ``_internals``): a function that runs
the coroutine on the fixture's loop, or a one-yield generator that starts the async generator in
a host task and finishes it at teardown. pytest keeps doing the caching and finalizing.

contextvars: each fixture runs in a copy of the current context; whatever it set is then set in
the current context too (so tests and later fixtures see it) and reset when the fixture ends.
"""

from __future__ import annotations

import contextvars
import inspect
import weakref
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast, overload

import pytest

from ._config import Settings
from ._errors import quoted_choices
from ._internals import swap_fixture_function
from ._runner import NoYieldError, ReentrantRunError, Runner, SecondYieldError
from ._scopes import SCOPES, Scope, is_scope, wider, widest

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _Declared:
    loop_scope: Scope | None


# Functions declared with awaitest.fixture. Keyed weakly by the function itself: a decorator
# has no config to store it in, and we never set attributes on users' functions.
_DECLARED: Final[weakref.WeakKeyDictionary[Callable[..., Any], _Declared]] = (
    weakref.WeakKeyDictionary()
)


@overload
def fixture(
    fixture_function: F,
    *,
    scope: Any = "function",
    loop_scope: Scope | None = None,
    params: Iterable[object] | None = None,
    autouse: bool = False,
    ids: Sequence[object | None] | Callable[[Any], object | None] | None = None,
    name: str | None = None,
) -> F: ...


@overload
def fixture(
    fixture_function: None = None,
    *,
    scope: Any = "function",
    loop_scope: Scope | None = None,
    params: Iterable[object] | None = None,
    autouse: bool = False,
    ids: Sequence[object | None] | Callable[[Any], object | None] | None = None,
    name: str | None = None,
) -> Callable[[F], F]: ...


def fixture(
    fixture_function: F | None = None,
    *,
    scope: Any = "function",
    loop_scope: Scope | None = None,
    params: Iterable[object] | None = None,
    autouse: bool = False,
    ids: Sequence[object | None] | Callable[[Any], object | None] | None = None,
    name: str | None = None,
) -> F | Callable[[F], F]:
    """``pytest.fixture`` that also marks an async fixture as awaitest's in strict mode.

    ``loop_scope`` names the loop it runs on (default: ``asyncio_default_fixture_loop_scope``,
    else its own scope); it may be wider than ``scope`` but not narrower.
    """
    if loop_scope is not None and not is_scope(loop_scope):
        raise ValueError(
            f"awaitest.fixture(loop_scope={loop_scope!r}) is not valid; "
            f"use {quoted_choices(SCOPES)}"
        )
    if loop_scope is not None and is_scope(scope) and wider(scope, loop_scope):
        raise ValueError(
            f"awaitest.fixture(scope={scope!r}, loop_scope={loop_scope!r}): the loop would "
            f"close while the fixture is still alive; use loop_scope={scope!r} or wider"
        )

    def decorate(function: F) -> F:
        _DECLARED[function] = _Declared(loop_scope)
        result: Any = pytest.fixture(
            function, scope=scope, params=params, autouse=autouse, ids=ids, name=name
        )
        return cast(F, result)

    return decorate if fixture_function is None else decorate(fixture_function)


@dataclass(frozen=True, slots=True)
class AsyncFixture:
    """What awaitest knows about one async fixture definition."""

    name: str
    generator: bool
    cache_scope: Scope
    loop_scope: Scope | None  # set explicitly with awaitest.fixture(loop_scope=...)
    claimed: bool  # ours to run: declared with awaitest.fixture, or auto mode

    def demand(self, settings: Settings) -> Scope | None:
        """The loop scope this fixture needs, or None when it follows the test's loop."""
        if self.loop_scope is not None:
            return self.loop_scope
        default = settings.default_fixture_loop_scope
        if self.cache_scope == "function":
            return default
        return widest(default or self.cache_scope, self.cache_scope)

    @property
    def per_test(self) -> bool:
        """Set up and torn down with each test: tasks it leaves pending are the test's."""
        return self.cache_scope == "function"

    @property
    def follows_test(self) -> bool:
        return self.loop_scope is None and self.cache_scope == "function"


def describe(fixturedef: pytest.FixtureDef[Any], settings: Settings) -> AsyncFixture | None:
    func = fixturedef.func
    raw = getattr(func, "__func__", func)
    generator = inspect.isasyncgenfunction(raw)
    if not generator and not inspect.iscoroutinefunction(raw):
        return None
    declared = _DECLARED.get(raw)
    scope = fixturedef.scope
    return AsyncFixture(
        name=fixturedef.argname,
        generator=generator,
        cache_scope=scope if is_scope(scope) else "function",
        loop_scope=declared.loop_scope if declared else None,
        claimed=declared is not None or settings.auto,
    )


def bound_function(func: Callable[..., Any], request: pytest.FixtureRequest) -> Callable[..., Any]:
    """The fixture function bound to the test's instance, as pytest itself binds it."""
    instance = request.instance
    owner = getattr(func, "__self__", None)
    if instance is not None and owner is not None and isinstance(instance, type(owner)):
        bound: Callable[..., Any] = getattr(func, "__func__").__get__(instance)  # noqa: B009
        return bound
    return func


RunnerFor = Callable[[AsyncFixture, pytest.FixtureRequest], Runner]


def around_setup(
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
    spec: AsyncFixture,
    runner_for: RunnerFor,
) -> Generator[None, Any, Any]:
    """Body of the ``pytest_fixture_setup`` wrapper for one of our async fixtures."""
    __tracebackhide__ = True
    stand_in = _generator_stand_in if spec.generator else _coroutine_stand_in
    original = swap_fixture_function(
        fixturedef, stand_in(spec, bound_function(fixturedef.func, request), request, runner_for)
    )
    try:
        return (yield)
    finally:
        swap_fixture_function(fixturedef, original)


def _coroutine_stand_in(
    spec: AsyncFixture,
    func: Callable[..., Any],
    request: pytest.FixtureRequest,
    runner_for: RunnerFor,
) -> Callable[..., Any]:
    def run_async_fixture(**kwargs: Any) -> Any:
        __tracebackhide__ = True
        runner = _checked_runner(spec, request, runner_for)
        context = contextvars.copy_context()
        value = runner.run(func(**kwargs), context=context, tracked=spec.per_test)
        _adopt(context, request)
        return value

    return run_async_fixture


def _generator_stand_in(
    spec: AsyncFixture,
    func: Callable[..., Any],
    request: pytest.FixtureRequest,
    runner_for: RunnerFor,
) -> Callable[..., Any]:
    def run_async_generator_fixture(**kwargs: Any) -> Generator[Any, None, None]:
        __tracebackhide__ = True
        runner = _checked_runner(spec, request, runner_for)
        context = contextvars.copy_context()
        try:
            host = runner.start_generator(func(**kwargs), context=context, tracked=spec.per_test)
        except NoYieldError:
            pytest.fail(
                f"async fixture {spec.name!r} returned without yielding; "
                "a generator fixture must yield exactly once",
                pytrace=False,
            )
        _adopt(context, request)
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
    spec: AsyncFixture, request: pytest.FixtureRequest, runner_for: RunnerFor
) -> Runner:
    __tracebackhide__ = True
    try:
        Runner.check_not_nested()
    except ReentrantRunError:
        pytest.fail(
            f"async fixture {spec.name!r} can't be set up while {request.node.name} is "
            "already running on an event loop (request.getfixturevalue() on an async fixture "
            "inside an async test or fixture); request it as an argument instead",
            pytrace=False,
        )
    return runner_for(spec, request)


_MISSING: Final = object()


def _adopt(context: contextvars.Context, request: pytest.FixtureRequest) -> None:
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


def requested_by_others(request: pytest.FixtureRequest) -> bool:
    """anyio and trio run the async fixtures of their own tests."""
    if "anyio_backend" in request.fixturenames:
        return True
    node = request.node
    return isinstance(node, pytest.Item) and any(
        node.get_closest_marker(name) is not None for name in ("anyio", "trio")
    )


def fail_unclaimed(spec: AsyncFixture, request: pytest.FixtureRequest) -> None:
    __tracebackhide__ = True
    pytest.fail(
        f"async fixture {spec.name!r} (requested by {request.node.name}) is not run by "
        "awaitest: in asyncio_mode = strict, declare it with @pytest_asyncio.fixture or "
        "@awaitest.fixture, or set asyncio_mode = auto.",
        pytrace=False,
    )
