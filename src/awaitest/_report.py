"""The pytest side of the checks: one window per async test, findings turned into outcomes.

A window opens when the test's setup starts and closes when its teardown ends (see
``_checks.Window``). A sync test gets one too, from the moment one of our async fixtures is set
up for it (:func:`watch_sync_test`): that fixture's code is watched as an async test's would be.
At the end of each phase its findings are reported on the test: an
``error`` finding fails that phase (``pytest.fail``), a ``warn`` finding becomes a warning on the
test. When the phase failed anyway, error findings are added to its exception as notes, so the
cause of a failure (often the missing ``await``) is printed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final

import pytest

from . import _checks
from ._checks import deadlines as _timeouts
from ._errors import AwaitestWarning, LoopErrorWarning, TaskLeakWarning, UnawaitedCoroutineWarning
from ._session import SessionState, TestPlan, state_of

_WARNINGS: Final[dict[_checks.Kind, type[AwaitestWarning]]] = {
    "unawaited": UnawaitedCoroutineWarning,
    "leak": TaskLeakWarning,
    "loop_error": LoopErrorWarning,
    "blocking": AwaitestWarning,
}


def monitor_of(config: pytest.Config) -> _checks.Monitor:
    state = state_of(config)
    monitor = state.monitor
    if monitor is None:
        settings = state.settings
        monitor = _checks.Monitor(
            _checks.Policy(
                unawaited=settings.unawaited,
                task_leaks=settings.task_leaks,
                loop_errors=settings.loop_errors,
                blocking_threshold=settings.blocking_threshold,
            )
        )
        # pytest-timeout's rule: under --pdb / --trace a stop at a breakpoint is not a hang.
        if config.getoption("usepdb", False) or config.getoption("trace", False):
            monitor.timeouts_suppressed = True
        if settings.timeout > 0:
            cli = config.getoption("asyncio_timeout", None) is not None
            source = "--asyncio-timeout=" if cli else "asyncio_timeout = "
            monitor.default_deadline = _timeouts.Deadline(
                settings.timeout, f"{source}{settings.timeout:g}"
            )
        state.monitor = monitor
    return monitor


def deadline(
    item: pytest.Item, plan: TestPlan | None, monitor: _checks.Monitor
) -> _timeouts.Deadline | None:
    """The marker's ``timeout=`` wins over ``--asyncio-timeout``, which wins over the ini
    (``plan`` None: a sync test, which has no marker of ours)."""
    found = monitor.default_deadline
    if plan is not None and plan.marker.timeout is not None:
        seconds = plan.marker.timeout
        found = None
        if seconds > 0:
            found = _timeouts.Deadline(seconds, f"@pytest.mark.asyncio(timeout={seconds:g})")
    if found is None or _timeouts.debugger_active():
        return None
    return found


def setup(item: pytest.Item, plan: TestPlan | None) -> Generator[None, Any, Any]:
    """Body of the ``pytest_runtest_setup`` wrapper: open the test's window, report setup."""
    __tracebackhide__ = True
    if plan is None:
        return (yield from _reported(item, None))  # a sync test: see watch_sync_test
    return (yield from _reported(item, _open(item, plan)))


def watch_sync_test(item: pytest.Item | None) -> None:
    """One of our async fixtures is about to be set up for ``item``: if it is a test we don't
    run (a sync test) and has no window yet, open one, so the fixture's steps are watched
    (deadline, missing awaits, leaked tasks, loop errors, blocking). Opened here rather than in
    setup, a sync test that uses no async fixture costs nothing."""
    if item is None:
        return
    state = state_of(item.config)
    if item not in state.windows and state.plan_of(item) is None:
        _open(item, None)


def _open(item: pytest.Item, plan: TestPlan | None) -> _checks.Window:
    monitor = monitor_of(item.config)
    window = monitor.open(item.name, deadline(item, plan, monitor))
    state_of(item.config).windows[item] = window
    return window


def call(item: pytest.Item, function: Callable[[], None]) -> None:
    """Run the test call (see ``_items.run``) and report what it did: ``_reported`` as plain
    code, without a generator to drive per test."""
    __tracebackhide__ = True
    window = state_of(item.config).windows.get(item)
    if window is None:
        function()
        return
    timed_out: str | None = None
    try:
        function()
    except _timeouts.StepTimeout as exc:
        timed_out = str(exc)  # reported below, outside this except block
    except BaseException as exc:
        _annotate(item, window, exc, settle=False)
        raise
    _finish(item, window, settle=False, timed_out=timed_out)


def teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    """Body of the ``pytest_runtest_teardown`` wrapper: leaks, the last findings, close."""
    __tracebackhide__ = True
    state = state_of(item.config)
    window = state.windows.pop(item, None)
    if window is None:
        return (yield)
    if window.deadline is not None and state.plan_of(item) is None:
        window.restart_deadline()  # a sync test's body doesn't count against asyncio_timeout
    try:
        return (yield from _reported(item, window, settle=True))
    finally:
        window.close()


def _reported(
    item: pytest.Item, window: _checks.Window | None, *, settle: bool = False
) -> Generator[None, Any, Any]:
    """Around a phase: its findings fail it, or are notes on the exception it failed with.
    ``window`` None: a sync test's setup, whose window opens during it if at all."""
    __tracebackhide__ = True
    timed_out: str | None = None
    try:
        result = yield
    except _timeouts.StepTimeout as exc:
        timed_out, result = str(exc), None  # reported below, outside this except block
    except BaseException as exc:
        window = window or state_of(item.config).windows.get(item)
        if window is not None:
            _annotate(item, window, exc, settle=settle)
        raise
    window = window or state_of(item.config).windows.get(item)
    if window is not None:
        _finish(item, window, settle=settle, timed_out=timed_out)
    return result


def _annotate(
    item: pytest.Item, window: _checks.Window, exc: BaseException, *, settle: bool
) -> None:
    """The phase failed: its error findings become notes on the exception."""
    if settle and not isinstance(exc, KeyboardInterrupt):
        window.settle()
    for message in _warn(item, window.take()):
        exc.add_note(message)


def _finish(
    item: pytest.Item, window: _checks.Window, *, settle: bool, timed_out: str | None
) -> None:
    """The phase passed (or a step timed out): error findings fail it, warnings are issued."""
    __tracebackhide__ = True
    if settle:
        window.settle()
    if timed_out is None and window.quiet():
        return  # nearly always: nothing found
    errors = _warn(item, window.take())
    if timed_out is not None:
        errors.insert(0, timed_out)
    if errors:
        # from None: when a step timed out we are still inside the handling of StepTimeout
        raise pytest.fail.Exception("\n\n".join(errors), pytrace=False) from None


def _warn(item: pytest.Item, findings: list[_checks.Finding]) -> list[str]:
    """Issue the ``warn`` findings as warnings on the test; return the ``error`` ones."""
    errors = []
    for finding in findings:
        if finding.severity == "warn":
            item.warn(_WARNINGS[finding.kind](finding.message))
        elif finding.severity == "error":
            errors.append(finding.message)
    return errors


def debugger_entered(config: pytest.Config) -> None:
    """``pytest_enter_pdb``: from now on a pause is not a hang."""
    monitor_of(config).timeouts_suppressed = True


def finish(state: SessionState) -> None:
    """``pytest_unconfigure``: stop the watchdog, close a window Ctrl-C left open."""
    monitor = state.monitor
    if monitor is not None:
        monitor.stop()
        window = _checks.active()
        while window is not None and window.monitor is monitor:
            window.close()
            window = _checks.active()
