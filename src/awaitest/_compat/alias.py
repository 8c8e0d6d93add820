"""The ``pytest_asyncio`` module, and the ``asyncio`` markers auto mode adds, as suites written
for pytest-asyncio look for them."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any, Final

import pytest

from .._collect import belongs_to_others, is_async_test
from .._fixture_specs import fixture

PYTEST_ASYNCIO_VERSION: Final = "1.5.0"


def install_pytest_asyncio_alias() -> None:
    """Make ``import pytest_asyncio`` give awaitest's compatible API, unless the real one is
    installed (then the plugin refuses to run beside it, see plugin.pytest_configure)."""
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
