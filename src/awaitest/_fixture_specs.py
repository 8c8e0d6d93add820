"""Async fixtures before they run: ``awaitest.fixture``, what awaitest knows about each async
fixture definition (:class:`AsyncFixture`) and each fixture pytest calls async xunit-style
methods from (:class:`XunitFixture`), and the rule that picks a test's loop from them.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar, cast, overload

import pytest

from ._config import Settings
from ._errors import quoted_choices
from ._loops.runner import is_coroutine_function
from ._pytest_private.internals import XunitKind, xunit_functions
from ._record import Record
from ._scopes import SCOPES, Scope, fixture_scope, is_scope, wider, widest

F = TypeVar("F", bound=Callable[..., Any])


class Declared(Record):
    __slots__ = ("loop_scope",)

    def __init__(self, loop_scope: Scope | None) -> None:
        self.loop_scope = loop_scope


# Functions declared with awaitest.fixture. Keyed weakly by the function itself: a decorator
# has no config to store it in, and we never set attributes on users' functions.
DECLARED: Final[weakref.WeakKeyDictionary[Callable[..., Any], Declared]] = (
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
        DECLARED[function] = Declared(loop_scope)
        result: Any = pytest.fixture(
            function, scope=scope, params=params, autouse=autouse, ids=ids, name=name
        )
        return cast(F, result)

    return decorate if fixture_function is None else decorate(fixture_function)


class AsyncFixture(Record):
    """What awaitest knows about one async fixture definition."""

    __slots__ = ("cache_scope", "claimed", "generator", "loop_scope", "name")

    def __init__(
        self,
        name: str,
        generator: bool,
        cache_scope: Scope,
        loop_scope: Scope | None,
        claimed: bool,
    ) -> None:
        self.name = name
        self.generator = generator
        self.cache_scope = cache_scope
        self.loop_scope = loop_scope  # set explicitly with awaitest.fixture(loop_scope=...)
        self.claimed = claimed  # ours to run: declared with awaitest.fixture, or auto mode

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
    declared = DECLARED.get(raw) or by_pytest_asyncio(raw)
    return AsyncFixture(
        name=fixturedef.argname,
        generator=generator,
        cache_scope=fixture_scope(fixturedef),
        loop_scope=declared.loop_scope if declared else None,
        claimed=declared is not None or settings.auto,
    )


class XunitFixture(Record):
    """A fixture pytest calls a class's or module's xunit-style setup and teardown from
    (``setup_method`` and ``teardown_method``, ...), when one of the two is ``async def``:
    awaitest calls them instead (``_xunit``). The functions are the ones pytest found."""

    __slots__ = ("kind", "setup", "teardown")

    def __init__(
        self,
        kind: XunitKind,
        setup: Callable[..., Any] | None,
        teardown: Callable[..., Any] | None,
    ) -> None:
        self.kind = kind
        self.setup = setup
        self.teardown = teardown

    @property
    def floor(self) -> Scope | None:
        """The narrowest loop the tests of its class (module) can run on: what
        ``setup_class`` (``setup_module``) makes must be usable in them."""
        kind = self.kind
        return "class" if kind == "class" else "module" if kind == "module" else None

    @property
    def per_test(self) -> bool:
        """Run for each test (``setup_method``, ``setup_function``): its tasks are the test's."""
        return self.kind in ("method", "function")

    @property
    def async_names(self) -> list[str]:
        """The async ones, as users wrote them: ``TestDb.setup_method``."""
        return [
            getattr(func, "__qualname__", "?")
            for func in (self.setup, self.teardown)
            if is_coroutine_function(func)
        ]


def describe_xunit(fixturedef: pytest.FixtureDef[Any]) -> XunitFixture | None:
    """The xunit fixture ``fixturedef`` is, when its setup or teardown is async; else None (a
    sync pair stays pytest's to call, at no cost per test)."""
    found = xunit_functions(fixturedef)
    if found is None:
        return None
    kind, setup, teardown = found
    if not (is_coroutine_function(setup) or is_coroutine_function(teardown)):
        return None
    return XunitFixture(kind, setup, teardown)


def declared(fixturedef: pytest.FixtureDef[Any]) -> Declared | None:
    """How ``fixturedef``'s function was declared with ``awaitest.fixture`` (or the real
    ``pytest_asyncio.fixture``), if it was."""
    func = fixturedef.func
    raw = getattr(func, "__func__", func)
    try:
        found = DECLARED.get(raw)
    except TypeError:  # a callable that can't be weakly referenced: not declared by us
        found = None
    if found is None and _PYTEST_ASYNCIO[0]:  # perf: no call per sync fixture setup otherwise
        return by_pytest_asyncio(raw)
    return found


#: Whether the real pytest-asyncio is installed (see ``_compat.alias``): only then can a fixture
#: be declared with its ``fixture``. (A one-item list: set once per process, never reset.)
_PYTEST_ASYNCIO: Final[list[bool]] = [False]


def read_pytest_asyncio_declarations() -> None:
    """From now on, fixtures declared with the real ``pytest_asyncio.fixture`` are awaitest's."""
    _PYTEST_ASYNCIO[0] = True


def by_pytest_asyncio(func: object) -> Declared | None:
    """How the real ``pytest_asyncio.fixture`` declared ``func``, when pytest-asyncio is
    installed beside awaitest (pytest-aiohttp's fixtures are declared with it): it marks the
    function with two attributes of its own."""
    if not _PYTEST_ASYNCIO[0] or not getattr(func, "_force_asyncio_fixture", False):
        return None
    loop_scope = getattr(func, "_loop_scope", None)
    return Declared(loop_scope if is_scope(loop_scope) else None)


def test_loop_scope(
    marker_scope: Scope | None,
    fixtures: Sequence[AsyncFixture],
    settings: Settings,
    floor: Scope | None,
) -> Scope:
    """The loop a test runs on: the one its marker names, else the widest of the default test
    loop scope, the loops its async fixtures need (the rule docs/how-to/several-loops.md states)
    and ``floor``, the loop of its class's async ``setup_class`` or module's ``setup_module``.

    The one place this is decided: generation groups a test's variants by it (``_variants``),
    planning runs the test on it (``_plan``).
    """
    if marker_scope is not None:
        return marker_scope
    default = settings.default_test_loop_scope
    if floor is not None:
        default = widest(default, floor)
    if not fixtures:
        return default
    return widest(default, *(d for spec in fixtures if (d := spec.demand(settings)) is not None))
