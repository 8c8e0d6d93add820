"""The ``pytest_asyncio`` module, and the ``asyncio`` markers auto mode adds, as suites written
for pytest-asyncio look for them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any, Final

import pytest

from .._collect import belongs_to_others, is_async_test
from .._fixture_specs import fixture, read_pytest_asyncio_declarations
from .._session import STATE

PYTEST_ASYNCIO_VERSION: Final = "1.5.0"


def install_pytest_asyncio_alias() -> None:
    """Make ``import pytest_asyncio`` give awaitest's compatible API, unless the real one is
    installed (then awaitest runs the tests and pytest-asyncio's plugin is off, see
    ``_entry``)."""
    if "pytest_asyncio" in sys.modules:
        return
    try:
        if importlib.util.find_spec("pytest_asyncio") is not None:
            return
    except (ImportError, ValueError):
        return
    module = types.ModuleType(
        "pytest_asyncio",
        # PYTEST_DONT_REWRITE: a test file saying pytest_plugins = "pytest_asyncio" must not get
        # "already imported, can't rewrite" warnings for this alias.
        "awaitest's stand-in for pytest-asyncio's public API. PYTEST_DONT_REWRITE",
    )
    module.fixture = fixture  # type: ignore[attr-defined]
    module.is_async_test = is_async_test  # type: ignore[attr-defined]
    module.__version__ = PYTEST_ASYNCIO_VERSION  # type: ignore[attr-defined]
    module.__all__ = ["fixture", "is_async_test"]  # type: ignore[attr-defined]
    sys.modules["pytest_asyncio"] = module


def mark_auto_mode_tests(collected: list[Any]) -> None:
    """In auto mode, pytest-asyncio gives each async test it runs an ``asyncio`` marker, and
    conftests find them with ``item.get_closest_marker("asyncio")``: so do we."""
    for item in collected:
        if (
            isinstance(item, pytest.Function)
            and item.get_closest_marker("asyncio") is None
            and not belongs_to_others(item)
        ):
            item.add_marker("asyncio")


def real_pytest_asyncio() -> types.ModuleType | None:
    """The installed pytest-asyncio package once imported; None when ``pytest_asyncio`` is
    awaitest's alias (or not imported)."""
    module = sys.modules.get("pytest_asyncio")
    if module is None or getattr(module, "fixture", None) is fixture:
        return None
    return module


def answer_for_pytest_asyncio() -> None:
    """With the real pytest-asyncio installed, make the fixtures its ``fixture`` declares
    awaitest's, and its ``is_async_test`` answer for the tests awaitest runs.

    Its own answer, ``isinstance(item, <its own item class>)``, is False for all of them, and
    suites call it in ``pytest_collection_modifyitems`` to mark their async tests
    (pytest-asyncio's recipe for running them all on one loop). Called while plugins load,
    before any conftest can import the name; a run without awaitest in the same process (a
    pytester run) still gets pytest-asyncio's answer."""
    try:
        importlib.import_module("pytest_asyncio")
    except ImportError:
        return  # not installed: the alias is in place
    module = real_pytest_asyncio()
    if module is not None:
        read_pytest_asyncio_declarations()
    theirs = getattr(module, "is_async_test", None)
    if module is None or theirs is None or getattr(theirs, "__module__", None) == __name__:
        return

    def either_is_async_test(item: pytest.Item) -> bool:
        if STATE in item.config.stash:
            return is_async_test(item)
        return bool(theirs(item))

    either_is_async_test.__doc__ = is_async_test.__doc__
    module.is_async_test = either_is_async_test  # type: ignore[attr-defined]
