"""The least a pytest plugin can do to run ``@pytest.mark.asyncio`` tests on a new loop each.

Not awaitest and not for use: a yardstick for ``bench.py --reference-side``. Each marked
``async def`` test gets ``asyncio.new_event_loop()``, one ``run_until_complete`` and
``close()``: no current-loop bookkeeping, no leftover-task shutdown, no checks, no fixtures,
no scopes. Whatever an async test costs under this plugin over a sync test is what asyncio
and pytest's handling of the marker cost, and no plugin giving each test a new loop can
avoid it.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # the generated suites' pytest.ini sets these; unknown keys would warn on every run
    parser.addini("asyncio_mode", "ignored")
    parser.addini("asyncio_default_fixture_loop_scope", "ignored")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "asyncio: run on a new event loop (reference plugin)")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(function())  # the suites it runs (sync, async) take no arguments
    finally:
        loop.close()
    return True
