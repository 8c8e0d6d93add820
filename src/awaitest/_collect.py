"""Which async tests and fixtures are ours, and the tests we refuse.

anyio, trio and unittest run async code of their own; :func:`owner` is the one rule that says
whose a test, or a fixture requested for a node, is. Everything else async is awaitest's: in
auto mode all of it, in strict mode what is marked or declared (``_plan`` decides how each test
runs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

import pytest

from ._loops.runner import is_coroutine_function
from ._scopes import Node
from ._session import STATE, SessionState

#: The libraries that run their own async tests and their fixtures.
_ASYNC_LIBRARIES: Final = ("anyio", "trio")


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
        return None  # not @given (perf: no getattr on None)
    inner = getattr(handle, "inner_test", None)
    return inner if callable(inner) else None


def markers(node: pytest.Item) -> list[pytest.Mark]:
    """Every marker of ``node``, closest first (perf: ``list(node.iter_markers())`` without its
    two nested generators)."""
    return [mark for parent in node.iter_parents() for mark in parent.own_markers]


def owner(
    node: Node, fixturenames: Iterable[str], marks: list[pytest.Mark] | None = None
) -> str | None:
    """Who runs the async code of ``node`` (a test, or the node a fixture is requested for) if
    not awaitest: ``anyio`` or ``trio`` (their marker on it or above it, or anyio's
    ``anyio_backend`` fixture among ``fixturenames``), ``unittest`` (a ``TestCase``'s
    test), or None. ``marks``: every marker of the node, when the caller has them already."""
    if "anyio_backend" in fixturenames:
        return "anyio"
    if not isinstance(node, pytest.Item):
        return None
    for mark in markers(node) if marks is None else marks:
        if mark.name in _ASYNC_LIBRARIES:
            return mark.name
    # A test function's parent is its class or its module: no walk up the tree (``item.cls``).
    parent = node.parent
    if not isinstance(parent, pytest.Class):
        return None
    cls = parent.obj
    # perf: unittest is not imported for this (about 15 million instructions at start-up, more
    # than the rest of awaitest's imports but asyncio); a TestCase's test has imported it.
    unittest = sys.modules.get("unittest")
    if unittest is None or not isinstance(cls, type):
        return None
    return "unittest" if issubclass(cls, unittest.TestCase) else None


def belongs_to_others(item: pytest.Item, marks: list[pytest.Mark] | None = None) -> bool:
    """An async test anyio, trio or unittest runs."""
    return owner(item, getattr(item, "fixturenames", ()), marks) is not None


def fixture_belongs_to_others(request: pytest.FixtureRequest, state: SessionState) -> bool:
    """An async fixture anyio or trio runs, for the test being set up. (unittest runs no pytest
    fixtures: an autouse async fixture of a ``TestCase`` test is still ours.)"""
    current = state.current
    if current is not None and current in state.planned:
        return False  # planned at collection as ours: no anyio or trio marker or backend
    return owner(request.node, request.fixturenames) in _ASYNC_LIBRARIES


def fail_if_unclaimed(item: pytest.Function) -> None:
    """Strict mode: an async test nobody ran (not ours, not anyio's, trio's or unittest's)
    fails with both ways to fix it."""
    __tracebackhide__ = True
    if async_function(item) is None or belongs_to_others(item):
        return
    pytest.fail(  # line one in pytest's words, which users search for
        f"{item.nodeid}: async def functions are not natively supported.\n"
        "awaitest runs this test once it is marked with @pytest.mark.asyncio, or set "
        "asyncio_mode = auto to run every async test without a marker.",
        pytrace=False,
    )


def xfail_async_generator(collected: object, auto: bool) -> None:
    """An async generator test function (it contains ``yield``) can't run as a test: the ones
    awaitest would run (marked, or every one in auto mode, unless anyio, trio or unittest runs
    it) are reported as xfailed and not run, with a ``PytestCollectionWarning``, as
    pytest-asyncio reports them (line one of the reason is its wording)."""
    items = collected if isinstance(collected, list) else [collected]
    for item in items:
        if not isinstance(item, pytest.Function) or belongs_to_others(item):
            continue
        if not auto and item.get_closest_marker("asyncio") is None:
            continue  # strict mode, unmarked: pytest's own failure
        reason = (
            f"Tests based on asynchronous generators are not supported. {item.name} will be "
            "ignored: it contains 'yield', and a test can't yield. Remove the yield, or move "
            "the setup and teardown into an async generator fixture."
        )
        item.add_marker(pytest.mark.xfail(run=False, reason=reason))
        item.warn(pytest.PytestCollectionWarning(reason))


def is_async_test(item: pytest.Item) -> bool:
    """True when awaitest runs ``item`` as an async test.

    Also right before awaitest plans the test: a conftest's ``pytest_collection_modifyitems``
    that marks every async test (the pytest-asyncio recipe for one session loop) runs first.
    """
    state = item.config.stash[STATE]
    if item in state.planned:
        return True
    if async_function(item) is None or belongs_to_others(item):
        return False
    return item.get_closest_marker("asyncio") is not None or state.settings.auto
