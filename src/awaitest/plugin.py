"""awaitest's pytest hooks: a table of contents. Each hook delegates to the module that owns
the concern; none of them knows about tasks or loops."""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

import pytest

from . import _compat, _config, _factories, _fixtures, _items, _recycling, _watch
from ._compat import (
    event_loop,
    event_loop_policy,
    unused_tcp_port,
    unused_tcp_port_factory,
    unused_udp_port,
    unused_udp_port_factory,
)
from ._factories import _asyncio_loop_factory
from ._state import NOTES, STATE, SessionState, forget, state_of
from ._virtual import virtual_clock

__all__ = [
    "_asyncio_loop_factory",
    "event_loop",
    "event_loop_policy",
    "unused_tcp_port",
    "unused_tcp_port_factory",
    "unused_udp_port",
    "unused_udp_port_factory",
    "virtual_clock",
]

_compat.install_pytest_asyncio_alias()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import _hooks

    pluginmanager.add_hookspecs(_hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    _config.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _refuse_pytest_asyncio(config)
    config.addinivalue_line(
        "markers",
        "asyncio(loop_scope=None, loop_factories=None, timeout=None): run this async test "
        "on an event loop (awaitest)",
    )
    state = SessionState(_config.read_settings(config))
    state.check_factories()
    config.stash[STATE] = state


def _refuse_pytest_asyncio(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__name__", "") == "pytest_asyncio.plugin":
            raise pytest.UsageError(
                "pytest-asyncio and awaitest are both active, and both would run async tests. "
                "Uninstall one (pip uninstall pytest-asyncio), or turn one off for this run "
                "with -p no:asyncio or -p no:awaitest."
            )


def pytest_report_header(config: pytest.Config) -> str:
    return _config.header_line(state_of(config).settings)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    result = yield
    if result and _items.is_async_generator_function(obj):
        items = result if isinstance(result, list) else [result]
        if not any(_items.belongs_to_others(i) for i in items if isinstance(i, pytest.Item)):
            return _items.reject_async_generator(collector, name)
    if result and state_of(collector.config).settings.auto and _items.is_coroutine_function(obj):
        _compat.mark_auto_mode_tests(result if isinstance(result, list) else [result])
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    definition, state = metafunc.definition, state_of(metafunc.config)
    if _items.async_function(definition) is None:
        return  # first: for a sync test this is cheaper than reading its markers
    every = _items.markers(definition)
    marks = [mark for mark in every if mark.name == "asyncio"]
    if not (marks or state.settings.auto):
        return
    if _factories.nothing_to_decide(metafunc, state, marks):
        return  # the common case, kept cheap: one factory, no hook, no overridden fixtures
    if not _items.belongs_to_others(definition, every) and not _compat.request_user_loop(metafunc):
        _factories.parametrize(metafunc, state, marks)


@pytest.hookimpl(trylast=True)  # after conftests that add markers (see _items.is_async_test)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = state_of(config)
    for item in items:
        _items.plan(item, state)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    __tracebackhide__ = _hidden_hook
    if NOTES in item.stash:  # (a get() that misses raises and catches a KeyError)
        for warning in item.stash[NOTES]:
            item.warn(warning)
    state = state_of(item.config)
    state.current = item
    plan = state.plan_of(item)
    if plan is not None and plan.error is not None:
        pytest.fail(plan.error, pytrace=False)
    return (yield from _watch.setup(item, plan))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    __tracebackhide__ = _hidden_hook
    state = state_of(pyfuncitem.config)
    plan = state.plan_of(pyfuncitem)
    if plan is not None:
        _items.run(pyfuncitem, plan, state)
        return True
    if _items.async_function(pyfuncitem) is not None and not _items.belongs_to_others(pyfuncitem):
        _items.fail_unclaimed(pyfuncitem)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    __tracebackhide__ = _hidden_hook  # every fixture's setup, sync ones too
    state = state_of(request.config)
    spec = state.async_fixture(fixturedef)
    if spec is None:
        _compat.enter_loop_of_declared_sync_fixture(fixturedef, request, state)
    if spec is None or state.others_run(request):
        value = yield
        if fixturedef.argname == "event_loop":
            _compat.make_event_loop_current(fixturedef, request, value)
        return value
    if not spec.claimed:
        _fixtures.fail_unclaimed(spec, request)
    _watch.watch_sync_test(state.current)
    _factories.tie_to_variant(fixturedef, request, state.current)
    return (
        yield from _fixtures.around_setup(
            fixturedef,
            request,
            spec,
            functools.partial(state.fixture_runner, fixturedef=fixturedef),
        )
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    __tracebackhide__ = _hidden_hook
    return (yield from _watch.teardown(item))


def _hidden_hook(excinfo: pytest.ExceptionInfo[BaseException] | None) -> bool:
    """``__tracebackhide__`` of the hooks a user's failure passes through: hidden, except from
    our own message-only failures (``pytrace=False``), whose frames pytest never prints but
    whose traceback must not be empty ("All traceback entries are hidden")."""
    failure = excinfo.value if excinfo is not None else None
    return not (isinstance(failure, pytest.fail.Exception) and not failure.pytrace)


def pytest_enter_pdb(config: pytest.Config) -> None:
    _watch.debugger_entered(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:  # None when pytest_configure failed: a usage error
        _watch.finish(state)
    _recycling.close_spares()
    forget(config)
