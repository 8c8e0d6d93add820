"""awaitest's pytest hooks: a table of contents.

The module-level hooks set a run up: options, the hookspec, and in ``pytest_configure`` one
:class:`AwaitestSession`, registered as a plugin of its own (as pytest registers its
``CaptureManager``). The session's hook methods are the rest of the run; each delegates to the
module that owns the concern, and none of them knows about tasks or loops. The fixtures pytest
must find are imported here.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Final

import pytest

from . import _collect, _config, _fixtures, _hookspec, _plan, _variants
from ._compat import alias as _alias
from ._compat.fixtures import (
    event_loop,
    event_loop_policy,
    make_event_loop_current,
    unused_tcp_port,
    unused_tcp_port_factory,
    unused_udp_port,
    unused_udp_port_factory,
)
from ._compat.user_loop import request_user_loop
from ._loops import recycling
from ._loops.runner import is_async_generator_function, is_coroutine_function
from ._plan import virtual_clock
from ._registry import LoopRegistry
from ._report import Checks, Phase
from ._session import STATE, SessionState
from ._variants import _asyncio_loop_factory

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

#: The name the run's :class:`AwaitestSession` is registered under.
SESSION_PLUGIN: Final = "awaitest-session"

_alias.install_pytest_asyncio_alias()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_hookspec)


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
    config.addinivalue_line(
        "markers",
        "awaitest(unawaited=None, task_leaks=None, loop_errors=None, blocking_threshold=None, "
        "timeout=None): this test's own settings of awaitest's checks",
    )
    settings = _config.read_settings(config)
    loops = LoopRegistry(settings)
    loops.check_factories()
    session = AwaitestSession(SessionState(settings, loops), Checks(config, settings))
    config.stash[STATE] = session.state
    config.pluginmanager.register(session, SESSION_PLUGIN)


def _refuse_pytest_asyncio(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__name__", "") == "pytest_asyncio.plugin":
            raise pytest.UsageError(
                "pytest-asyncio and awaitest are both active, and both would run async tests. "
                "Uninstall one (pip uninstall pytest-asyncio), or turn one off for this run "
                "with -p no:asyncio or -p no:awaitest."
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    recycling.close_spares()  # also after a pytest_configure that failed (a usage error)


class AwaitestSession:
    """One run of awaitest: its state, and the hooks that use it.

    Nothing here depends on the name it is registered under: the hooks read ``self`` (perf:
    an attribute, not a stash lookup per hook), and fixtures and public functions find the
    state in ``config.stash[STATE]``.
    """

    def __init__(self, state: SessionState, checks: Checks) -> None:
        self.state = state
        self.checks = checks

    def pytest_report_header(self, config: pytest.Config) -> str:
        return _config.header_line(self.state.settings)

    # -- collection ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Module | pytest.Class, name: str, obj: object
    ) -> Generator[None, Any, Any]:
        result = yield
        if result and is_async_generator_function(obj):
            rejected = _collect.reject_async_generator(collector, name, result)
            if rejected is not None:
                return rejected
        if result and self.state.settings.auto and is_coroutine_function(obj):
            _alias.mark_auto_mode_tests(result if isinstance(result, list) else [result])
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        definition, state = metafunc.definition, self.state
        if _collect.async_function(definition) is None:
            return  # a sync test (perf: asked before its markers)
        every = _collect.markers(definition)
        marks = [mark for mark in every if mark.name == "asyncio"]
        if not (marks or state.settings.auto) or _variants.nothing_to_decide(
            metafunc, state, marks
        ):
            return  # the common case, kept cheap: one factory, no hook, no overridden fixtures
        if _collect.belongs_to_others(definition, every) or request_user_loop(metafunc):
            return
        _variants.parametrize(metafunc, state, marks)

    @pytest.hookimpl(trylast=True)  # after conftests that add markers (see is_async_test)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        for item in items:
            _plan.plan(item, self.state)

    # -- running ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        plan = self.state.begin(item)
        window = None if plan is None else self.checks.open(item, plan)
        with Phase(self.checks, item, window):
            return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        plan = self.state.planned.get(pyfuncitem)
        if plan is None:
            _collect.fail_if_unclaimed(pyfuncitem)
            return None
        with Phase(self.checks, pyfuncitem):
            self.state.run_test(pyfuncitem, plan)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        state = self.state
        spec = state.async_fixture(fixturedef)
        if spec is None or _collect.fixture_belongs_to_others(request, state):
            if spec is None:
                _fixtures.enter_loop_of_declared_sync_fixture(fixturedef, request, state)
            value = yield
            if fixturedef.argname == "event_loop":
                make_event_loop_current(fixturedef, request, value)
            return value
        return (yield from _fixtures.setup(fixturedef, request, spec, state, self.checks))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        window = self.checks.close(item, item in self.state.planned)
        if window is None:
            return (yield)
        try:
            with Phase(self.checks, item, window, settle=True):
                return (yield)
        finally:
            window.close()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.checks.report_unblamed(terminalreporter)

    def pytest_enter_pdb(self, config: pytest.Config) -> None:
        self.checks.debugger_entered()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.checks.end_of_run()
