"""The least a pytest plugin can do to run ``@pytest.mark.asyncio`` tests on a new loop each.

Not awaitest and not for use: a yardstick for ``bench.py --reference-side``. Each marked
``async def`` test gets ``asyncio.new_event_loop()`` before its fixtures are set up and
``close()`` after they are torn down; the test is one ``run_until_complete`` on it, and a
function-scoped async generator fixture one before the test and one after (through pytest's
own handling of a sync generator fixture). A test marked ``loop_scope="module"`` runs on its
module's loop instead, made for the module's first such test and closed when the module is
torn down, and a module-scoped async generator fixture runs on it too. No current-loop
bookkeeping, no leftover-task shutdown, no checks, no other fixture kinds, no other scopes.
Whatever an async test costs under this plugin over a sync test is what asyncio and pytest
cost, and no plugin giving each test (and its fixtures) a new loop can avoid it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import pytest

_LOOP = pytest.StashKey[asyncio.AbstractEventLoop]()  # of a test, or of a module
_IN_MODULE = pytest.StashKey[pytest.Module]()  # a test on its module's loop


def _module_loop(module: pytest.Collector) -> asyncio.AbstractEventLoop:
    """The module's loop, made on first use (the module is set up by then) and closed when the
    module is torn down, after its fixtures (finalizers run last in, first out)."""
    loop: asyncio.AbstractEventLoop | None = module.stash.get(_LOOP, None)
    if loop is None:
        loop = module.stash[_LOOP] = asyncio.new_event_loop()
        module.addfinalizer(loop.close)
    return loop


def pytest_addoption(parser: pytest.Parser) -> None:
    # the generated suites' pytest.ini sets these; unknown keys would warn on every run
    parser.addini("asyncio_mode", "ignored")
    parser.addini("asyncio_default_fixture_loop_scope", "ignored")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "asyncio: run on a new event loop (reference plugin)")


def _is_async(item: pytest.Item) -> bool:
    return isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    if _is_async(item):
        marker = item.get_closest_marker("asyncio")
        module = item.getparent(pytest.Module)
        if marker is not None and marker.kwargs.get("loop_scope") == "module" and module:
            item.stash[_IN_MODULE] = module  # its loop is made once the module is set up
        else:
            item.stash[_LOOP] = asyncio.new_event_loop()
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None]:
    try:
        return (yield)  # the fixtures' finalizers run in here
    finally:
        loop = item.stash.get(_LOOP, None)
        if loop is not None:
            del item.stash[_LOOP]  # the item lives to the end of the run; its loop need not
            loop.close()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: Any) -> Generator[Any]:
    func = fixturedef.func
    if not inspect.isasyncgenfunction(func):
        return (yield)
    # the suites' async fixtures are function-scoped, or module-scoped on the module's loop
    node = request.node
    loop = _module_loop(node) if fixturedef.scope == "module" else node.stash[_LOOP]

    def on_the_loop(**kwargs: Any) -> Generator[Any]:
        agen: AsyncGenerator[Any] = func(**kwargs)
        yield loop.run_until_complete(agen.__anext__())
        try:
            loop.run_until_complete(agen.__anext__())
        except StopAsyncIteration:
            pass

    # pytest has no public way to run a fixture function differently; awaitest swaps it the
    # same way (src/awaitest/_pytest_private/internals.py), and pytest types the attribute Final
    fixturedef.func = on_the_loop  # type: ignore[misc]
    try:
        return (yield)
    finally:
        fixturedef.func = func  # type: ignore[misc]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    loop = pyfuncitem.stash.get(_LOOP, None)
    if loop is None and _IN_MODULE in pyfuncitem.stash:
        loop = _module_loop(pyfuncitem.stash[_IN_MODULE])
    if loop is None:
        return None
    function: Callable[..., Any] = pyfuncitem.obj
    code = function.__code__
    kwargs = {name: pyfuncitem.funcargs[name] for name in code.co_varnames[: code.co_argcount]}
    loop.run_until_complete(function(**kwargs))
    return True
