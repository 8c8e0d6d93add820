"""Every use of a private pytest attribute, one function each, with the reason.

pytest 8.4 and 9 both have these; if a future pytest moves them, this is the only file to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def closure_fixturedefs(item: pytest.Function) -> Iterator[pytest.FixtureDef[Any]]:
    """The fixture definitions a test will use, the closest override of each name.

    pytest has no public way to list them before setup; we need them at collection to decide
    which loop the test runs on.
    """
    name2defs = item._fixtureinfo.name2fixturedefs
    for name in item.fixturenames:
        defs = name2defs.get(name)
        if defs:
            yield defs[-1]


def test_argnames(item: pytest.Function) -> tuple[str, ...]:
    """The arguments the test function itself takes, as pytest's own ``pytest_pyfunc_call``
    reads them; ``item.funcargs`` also holds autouse and indirectly requested fixtures."""
    return tuple(item._fixtureinfo.argnames)


@contextmanager
def fixture_function_swapped(
    fixturedef: pytest.FixtureDef[Any], func: Callable[..., Any]
) -> Iterator[None]:
    """Let pytest's own ``pytest_fixture_setup`` call ``func`` instead of the fixture function.

    pytest offers no public way to run a fixture function differently, only to replace
    ``pytest_fixture_setup`` whole -- and with it the caching, skip locations and finalizer
    handling that we want to stay pytest's. ``FixtureDef.func`` is a documented attribute, but
    assigning it is not a promised use, so it lives here.
    """
    original = fixturedef.func
    fixturedef.func = func  # type: ignore[misc]
    try:
        yield
    finally:
        fixturedef.func = original  # type: ignore[misc]
