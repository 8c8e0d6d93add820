"""What a suite written for pytest-asyncio expects to find: the ``pytest_asyncio`` module and
the ``event_loop`` fixture."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from typing import Final

import pytest

from ._state import PLAN, state_of

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
    from . import _fixtures, _items

    module = types.ModuleType(
        "pytest_asyncio",
        # PYTEST_DONT_REWRITE: a test file saying pytest_plugins = "pytest_asyncio" must not get
        # "already imported, can't rewrite" warnings for this alias.
        "awaitest's stand-in for pytest-asyncio's public API. PYTEST_DONT_REWRITE",
    )
    module.fixture = _fixtures.fixture  # type: ignore[attr-defined]
    module.is_async_test = _items.is_async_test  # type: ignore[attr-defined]
    module.__version__ = PYTEST_ASYNCIO_VERSION  # type: ignore[attr-defined]
    module.__all__ = ["fixture", "is_async_test"]  # type: ignore[attr-defined]
    sys.modules["pytest_asyncio"] = module


@pytest.fixture
def event_loop(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoop:
    """The event loop the requesting test runs on."""
    state = state_of(request.config)
    node = request.node
    plan = node.stash.get(PLAN, None)
    if plan is not None:
        return state.runner(node, plan.loop_scope, plan.factory).loop
    scope = state.settings.default_fixture_loop_scope or "function"
    return state.runner(node, scope, state.default_factory()).loop
