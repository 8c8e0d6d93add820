"""awaitest's pytest hooks: a table of contents.

This module is registered under pytest-asyncio's plugin name, ``asyncio``, by the entry point
(``_entry``). The module-level hooks set a run up: options, the hookspec, and in
``pytest_configure`` one :class:`AwaitestSession`, registered as a plugin of its own (as pytest
registers its ``CaptureManager``), and :class:`LooptimeSupport` when looptime is registered. The
session's hook methods are the rest of the run; each delegates to the module that owns the
concern, and none of them knows about tasks or loops. The fixtures pytest must find are
imported here (looptime looks for them here, too).
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final

import pytest

from . import _collect, _concurrency, _config, _fixtures, _hookspec, _plan, _variants
from ._advisories import Summary
from ._compat import alias as _alias
from ._compat import looptime as _looptime
from ._compat import pytest_timeout as _pytest_timeout
from ._compat.fixtures import (
    _asyncio_loop_factory,
    event_loop,
    event_loop_policy,
    make_event_loop_current,
    unused_tcp_port,
    unused_tcp_port_factory,
    unused_udp_port,
    unused_udp_port_factory,
)
from ._compat.user_loop import any_user_loop, request_user_loop
from ._fixture_specs import AsyncFixture, XunitFixture
from ._loops import recycling
from ._loops.runner import is_async_generator_function, is_coroutine_function
from ._plan import virtual_clock
from ._pytest_private.internals import hookspec_of, setup_show_requested, write_on_setup_show_line
from ._registry import LoopRegistry
from ._report import Checks, judged, phase_over
from ._session import STATE, DeclaredSync, SessionState

if TYPE_CHECKING:
    # perf: imported where used, only by runs that need them. _batches brings concurrency's
    # machinery (five modules, a fifth of awaitest's code), _xunit async setup_method & co.
    from . import _batches

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

#: The name this module is registered under (by ``_entry``): pytest-asyncio's, the name users
#: and other plugins know the async plugin by.
NAME: Final = "asyncio"
#: Its name when another plugin holds "asyncio" (the header says so).
FALLBACK_NAME: Final = "awaitest.plugin"
#: The name the run's :class:`AwaitestSession` is registered under.
SESSION_PLUGIN: Final = "awaitest-session"
_HOOK: Final = "pytest_asyncio_loop_factories"

_alias.install_pytest_asyncio_alias()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if hookspec_of(pluginmanager, _HOOK) is None:  # else pytest-asyncio's, loaded first
        pluginmanager.add_hookspecs(_hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    _config.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _check_hookspec(config)
    config.addinivalue_line(
        "markers",
        "asyncio(loop_scope=None, loop_factories=None, timeout=None, eager_tasks=None): run "
        "this async test on an event loop (awaitest)",
    )
    config.addinivalue_line(
        "markers",
        "awaitest(unawaited=None, task_leaks=None, loop_errors=None, blocking_threshold=None, "
        "timeout=None, pending_on_failure=None, concurrent=None): this test's own settings of "
        "awaitest's checks, and whether it may run beside other tests",
    )
    settings = _config.read_settings(config)
    loops = LoopRegistry(settings)
    loops.check_factories()
    session = AwaitestSession(SessionState(settings, loops), Checks(config, settings))
    config.stash[STATE] = session.state
    pluginmanager = config.pluginmanager
    pluginmanager.register(session, SESSION_PLUGIN)
    if _looptime.registered(config):
        session.looptime = True
        pluginmanager.register(LooptimeSupport(session.state), LOOPTIME_SUPPORT_PLUGIN)
    if setup_show_requested(config):
        pluginmanager.register(SetupShow(session.state), SETUP_SHOW_PLUGIN)
    off = _concurrency.off_reason(config, settings)
    header = _concurrency.header_line(settings, off)
    if header is not None:
        session.headers.append(header)
    if settings.concurrency >= 1 and off is None:
        from . import _batches  # perf: see the TYPE_CHECKING import

        batches = _batches.Batches(session.state, config, session.checks)
        pluginmanager.register(Concurrency(batches), CONCURRENCY_PLUGIN)


def _check_hookspec(config: pytest.Config) -> None:
    """The hook's declaration is pytest-asyncio's when its plugin was loaded first: refuse one
    that awaitest doesn't call the same way (a future pytest-asyncio's)."""
    found = hookspec_of(config.pluginmanager, _HOOK)
    if found is None or found[:2] == _hookspec.SIGNATURE:
        return
    (argnames, firstresult), module = found[:2], found[2]
    raise pytest.UsageError(
        f"{module} declares the hook {_HOOK}({', '.join(argnames)}) "
        f"(firstresult={firstresult}), and awaitest calls it as "
        f"{_HOOK}({', '.join(_hookspec.SIGNATURE[0])}) (firstresult=True). "
        "Run with -p no:awaitest to let pytest-asyncio run the async tests, or install a "
        "pytest-asyncio that awaitest supports (1.5)."
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
        self.timeouts = _pytest_timeout.PytestTimeout(checks, state.planned)
        self.looptime = False  # looptime is registered: see LooptimeSupport
        self.advisories = Summary()
        #: Header lines of features that are on for the run (concurrency).
        self.headers: list[str] = []

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.state.settings
        lines = [_config.header_line(settings), *_config.awaitest_header_lines(settings)]
        lines += self.timeouts.header()
        lines += self.headers
        real = _alias.real_pytest_asyncio()
        if real is not None:
            lines.append(
                f"awaitest: pytest-asyncio {getattr(real, '__version__', '')} is installed too; "
                "awaitest runs the async tests and pytest-asyncio's plugin is off "
                "(-p no:awaitest to use pytest-asyncio instead)"
            )
        holder = config.pluginmanager.get_plugin(NAME)
        if holder is not None and holder is not sys.modules[__name__]:
            lines.append(
                f"awaitest: the plugin name {NAME!r} is taken by {holder!r}, so plugins that "
                "look for pytest-asyncio by that name (looptime) don't find awaitest"
            )
        return lines

    # -- collection ------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Module | pytest.Class, name: str, obj: object
    ) -> Generator[None, Any, Any]:
        result = yield
        if result and is_async_generator_function(obj):
            _collect.xfail_async_generator(result, self.state.settings.auto)
        elif result and self.state.settings.auto and is_coroutine_function(obj):
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
        user_loops = any_user_loop(session)
        for item in items:
            _plan.plan(item, self.state, user_loops=user_loops)
        if self.looptime:
            _looptime.expose_loops(items, self.state, config)

    # -- running ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook
        plan = self.state.begin(item)
        # in a batch this runs in the test's own context: its window is bound to it there
        window = None if plan is None else self.checks.open(item, plan)
        return (yield from judged(self.checks, item, "setup", window))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        __tracebackhide__ = _hidden_hook
        plan = self.state.planned.get(pyfuncitem)
        if plan is None:
            _collect.fail_if_unclaimed(pyfuncitem)
            return None
        try:
            self.state.run_test(pyfuncitem, plan)
        except BaseException as exc:
            phase_over(self.checks, pyfuncitem, "call", None, exc)
            raise
        phase_over(self.checks, pyfuncitem, "call", None, None)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook  # every fixture's setup, sync ones too
        state = self.state
        try:  # perf: the lookup inline, as for every fixture's setup
            spec = state.fixtures[fixturedef]
        except KeyError:
            spec = state.async_fixture(fixturedef)
        if spec is None:  # a sync fixture, not declared with awaitest.fixture: nearly all
            runner = _fixtures.enter_test_loop(state)
        elif isinstance(spec, DeclaredSync):
            runner = None
            _fixtures.enter_loop_of_declared(spec.spec, request, state)
        elif _collect.fixture_belongs_to_others(request, state):
            runner = None
        elif isinstance(spec, XunitFixture):  # async setup_method and its kin
            from . import _xunit  # perf: see the TYPE_CHECKING import

            return (yield from _xunit.setup(fixturedef, request, spec, state, self.checks))
        else:
            return (yield from _fixtures.setup(fixturedef, request, spec, state, self.checks))
        value = yield
        if runner is not None and not runner.ran:  # perf: asked here, once a step ran
            state.loops.forget_if_closed_unused(runner)
        if fixturedef.argname == "event_loop":
            make_event_loop_current(fixturedef, request, value)
        return value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook
        window = self.checks.close(item, item in self.state.planned)
        if window is None:
            return (yield)
        try:
            return (yield from judged(self.checks, item, "teardown", window))
        finally:
            window.close()

    # -- reporting -------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.sections:  # perf: most reports have none
            self.advisories.gather(report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.advisories.write(terminalreporter)
        self.timeouts.summary(terminalreporter)

    def pytest_enter_pdb(self, config: pytest.Config) -> None:
        self.checks.debugger_entered()

    # -- pytest-timeout's hooks (optional: it may not be installed) -------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        return self.timeouts.set_timer(item, settings)

    @pytest.hookimpl(optionalhook=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> bool | None:
        return self.timeouts.cancel_timer(item)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.checks.end_of_run()


#: The name :class:`Concurrency` is registered under.
CONCURRENCY_PLUGIN: Final = "awaitest-concurrency"


class Concurrency:
    """Registered only with ``asyncio_concurrency`` 1 or more, and not switched off for the run
    (perf: otherwise a run calls no hook more than without the feature): see ``_batches``."""

    def __init__(self, batches: _batches.Batches) -> None:
        self.batches = batches
        assert batches.state.flights is not None
        self.flights = batches.state.flights

    # tryfirst: before pytest's own protocol, which it replaces for tests that join a batch
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        __tracebackhide__ = _hidden_hook
        return self.batches.protocol(item, nextitem)

    # tryfirst, registered after the session: before its pytest_pyfunc_call, which would run
    # the test again
    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        __tracebackhide__ = _hidden_hook
        flight = self.flights.get(pyfuncitem)
        if flight is None or flight.task is None:
            return None
        batches = self.batches
        try:
            try:  # its findings fail its call
                batches.timed_out(pyfuncitem)  # its deadline cancelled it: StepTimeout
                flight.outcome()  # the task's own result: its error raised here, for the report
            except BaseException as exc:
                phase_over(batches.checks, pyfuncitem, "call", None, exc)
                raise
            phase_over(batches.checks, pyfuncitem, "call", None, None)
        finally:
            # its output after the pending tasks' section, where pytest's capture puts it
            batches.attach_output(pyfuncitem, flight)
        return True

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        self.batches.summary(terminalreporter)

    # tryfirst: before pytest tears the stack down, which would find parked tests' fixtures
    # clean (a run interrupted between two tests' protocols, an internal error)
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.batches.abandon()


#: The name :class:`LooptimeSupport` is registered under.
LOOPTIME_SUPPORT_PLUGIN: Final = "awaitest-looptime"


class LooptimeSupport:
    """Registered only when looptime is (perf: otherwise none of this runs): see
    ``_compat.looptime``."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    # tryfirst: around looptime's own wrapper, which reads the current loop
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook
        _looptime.make_test_loop_current(pyfuncitem, self.state)
        return (yield)


#: The name :class:`SetupShow` is registered under.
SETUP_SHOW_PLUGIN: Final = "awaitest-setup-show"


class SetupShow:
    """Registered only with ``--setup-show`` (perf: otherwise none of this runs): each line
    pytest writes for an async fixture's setup, and each async test's line, end with the loop
    it ran on: ``(loop: module, asyncio, real clock)``."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    # tryfirst: outside pytest's own wrapper, which writes the SETUP line when setup ends
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook
        value = yield
        state = self.state
        spec = state.async_fixture(fixturedef)
        runner = None
        if isinstance(spec, XunitFixture):
            from . import _xunit  # perf: see the TYPE_CHECKING import

            if _xunit.runs_for(spec, request, state):
                runner = _xunit.runner(spec, request, state)
        elif (
            type(spec) is AsyncFixture
            and spec.claimed
            and not _collect.fixture_belongs_to_others(request, state)
        ):
            runner = _fixtures.fixture_runner(state, spec, request)
        if runner is not None:
            label = state.loop_label(runner)
            write_on_setup_show_line(request.config, f" {label}", captured=True)
        return value

    # tryfirst: before output capturing resumes for the call, right after pytest's test line
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        __tracebackhide__ = _hidden_hook
        plan = self.state.planned.get(item)
        if plan is not None and plan.error is None:
            label = self.state.test_loop_label(item, plan)
            # pytest 9.1 ends the test's line with a space before the verdict; older ones don't
            ends_with_space = pytest.version_tuple >= (9, 1)
            text = f"{label} " if ends_with_space else f" {label}"
            write_on_setup_show_line(item.config, text, captured=False)
        return (yield)


def _hidden_hook(excinfo: pytest.ExceptionInfo[BaseException] | None) -> bool:
    """``__tracebackhide__`` of the hooks a user's failure passes through: hidden, except from
    our own message-only failures (``pytrace=False``), whose frames pytest never prints but
    whose traceback must not be empty ("All traceback entries are hidden")."""
    failure = excinfo.value if excinfo is not None else None
    return not (isinstance(failure, pytest.fail.Exception) and not failure.pytrace)
