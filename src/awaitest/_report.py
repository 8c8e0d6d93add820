"""The pytest side of the checks: one window per async test, findings turned into outcomes.

A window opens when the test's setup starts and closes when its teardown ends (see
``_checks.Window``). A sync test gets one too, from the moment one of our async fixtures is set
up for it (:meth:`Checks.watch_sync_test`): that fixture's code is watched as an async test's
would be. At the end of each phase (setup, call, teardown), :func:`phase_over`: an
``error`` finding fails it (``pytest.fail``) and a ``warn`` finding is an advisory of the test
(``_advisories``: a section of its report and an entry of the terminal summary, never a Python
warning, so ``filterwarnings = error`` doesn't turn it into a failure). When the phase failed
anyway, error findings are added to its exception as notes, so the cause of a failure (often
the missing ``await``) is printed with it.

A test's own ``@pytest.mark.awaitest(...)`` settings give its window a policy of its own. Loop
errors that no test is to blame for are advisories too (``_checks.Window``): the summary lists
each once, naming the library and the tests it came during.
"""

from __future__ import annotations

import builtins
import importlib
import re
from collections.abc import Generator
from typing import Final

import pytest

from . import _checks
from ._advisories import advise
from ._checks.blame import Places
from ._checks.deadlines import Deadline, StepTimeout, debugger_active
from ._collect import markers
from ._config import Settings
from ._marker import NO_OVERRIDES, CheckOverrides, MarkerError, parse_checks
from ._pytest_private.internals import debugging_requested
from ._session import TestPlan


class Checks:
    """The checks of one run: the monitor (made on first use) and each test's open window (one
    at a time, two while Ctrl-C unwinds)."""

    __slots__ = ("carried", "config", "monitor", "policies", "settings", "windows")

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.monitor: _checks.Monitor | None = None
        self.windows: dict[pytest.Item, _checks.Window] = {}
        #: Deadlines of other plugins (pytest-timeout's) for tests not yet set up.
        self.carried: dict[pytest.Item, Deadline] = {}
        #: The policies of tests with settings of their own, by those settings.
        self.policies: dict[CheckOverrides, _checks.Policy] = {}

    def monitor_of_run(self) -> _checks.Monitor:
        monitor = self.monitor
        if monitor is None:
            settings = self.settings
            monitor = _checks.Monitor(
                _checks.Policy(
                    unawaited=settings.unawaited,
                    task_leaks=settings.task_leaks,
                    loop_errors=settings.loop_errors,
                    blocking_threshold=settings.blocking_threshold,
                    pending_on_failure=settings.pending_on_failure,
                ),
                places=Places((str(self.config.rootpath),)),
                expected=_ignored_by_mark,
            )
            if debugging_requested(self.config):
                monitor.timeouts_suppressed = True
            monitor.outside_error = _failure
            if settings.timeout > 0:
                cli = self.config.getoption("asyncio_timeout", None) is not None
                source = "--asyncio-timeout=" if cli else "asyncio_timeout = "
                monitor.default_deadline = Deadline(
                    settings.timeout, f"{source}{settings.timeout:g}"
                )
            self.monitor = monitor
        return monitor

    def open(self, item: pytest.Item, plan: TestPlan | None) -> _checks.Window:
        """Open the window of ``item``'s test (``plan`` None: a sync test)."""
        return self._open(item, plan, NO_OVERRIDES if plan is None else plan.checks)

    def _open(
        self, item: pytest.Item, plan: TestPlan | None, overrides: CheckOverrides
    ) -> _checks.Window:
        monitor = self.monitor_of_run()
        policy = None if overrides is NO_OVERRIDES else self._policy(monitor, overrides)
        deadline = _deadline(plan, overrides, monitor, self.carried.pop(item, None))
        window = monitor.open(item.name, deadline, policy, item)
        self.windows[item] = window
        return window

    def _policy(self, monitor: _checks.Monitor, overrides: CheckOverrides) -> _checks.Policy:
        found = self.policies.get(overrides)
        if found is None:
            changed = {
                name: value
                for name in _checks.Policy._fields
                if (value := getattr(overrides, name, None)) is not None
            }
            found = self.policies[overrides] = monitor.policy._replace(**changed)
        return found

    def watch_sync_test(self, item: pytest.Item) -> None:
        """One of our async fixtures is about to be set up for ``item``, a test we don't run (a
        sync test): if it has no window yet, open one, so the fixture's steps are watched
        (deadline, missing awaits, leaked tasks, loop errors, blocking). Opened here rather
        than in setup, a sync test that uses no async fixture costs nothing."""
        __tracebackhide__ = True
        if item not in self.windows:
            overrides = parse_checks(mark for mark in markers(item) if mark.name == "awaitest")
            if isinstance(overrides, MarkerError):
                pytest.fail(f"{item.nodeid}: {overrides.problem}", pytrace=False)
            self._open(item, None, overrides)

    def close(self, item: pytest.Item, planned: bool) -> _checks.Window | None:
        """``item``'s teardown begins: its window, taken out of the open ones (closed by the
        caller once teardown is over)."""
        window = self.windows.pop(item, None)
        if window is not None and window.deadline is not None and not planned:
            window.restart_deadline()  # a sync test's body doesn't count against asyncio_timeout
        return window

    def debugger_entered(self) -> None:
        """``pytest_enter_pdb``: from now on a pause is not a hang."""
        self.monitor_of_run().timeouts_suppressed = True

    def end_of_run(self) -> None:
        """At the end of the run: stop the watchdog, close a window Ctrl-C left open."""
        monitor = self.monitor
        if monitor is not None:
            monitor.stop()
            window = _checks.active()
            while window is not None and window.monitor is monitor:
                window.close()
                window = _checks.active()


def _failure(message: str) -> BaseException:
    return pytest.fail.Exception(message, pytrace=False)


def _deadline(
    plan: TestPlan | None,
    overrides: CheckOverrides,
    monitor: _checks.Monitor,
    carried: Deadline | None,
) -> Deadline | None:
    """The ``asyncio`` marker's ``timeout=`` wins over the ``awaitest`` marker's, which wins
    over ``--asyncio-timeout``, which wins over the ini (``plan`` None: a sync test, which has
    no ``asyncio`` marker of ours); a ``carried`` deadline (from pytest-timeout) applies when it
    is the shorter."""
    found = monitor.default_deadline
    if (
        overrides is NO_OVERRIDES
        and carried is None
        and (plan is None or plan.marker.timeout is None)
    ):
        return None if found is None or debugger_active() else found  # perf: nearly every test
    for seconds, marker in (
        (overrides.timeout, "awaitest"),
        (None if plan is None else plan.marker.timeout, "asyncio"),
    ):
        if seconds is not None:
            found = None
            if seconds > 0:
                source = f"@pytest.mark.{marker}(timeout={seconds:g})"
                found = Deadline(seconds, source, marker=marker)
    if carried is not None and (found is None or carried.seconds < found.seconds):
        found = carried
    if found is None or debugger_active():
        return None
    return found


def phase_over(
    checks: Checks,
    item: pytest.Item,
    when: str,
    window: _checks.Window | None,
    exc: BaseException | None,
) -> None:
    """One phase of a test (``when``: "setup", "call" or "teardown") ended, with ``exc`` if it
    failed: its findings fail it, or are notes on the exception it failed with. ``window``
    None: the test's window, if it has one by now (a sync test's opens during its setup, if
    at all). The teardown settles the window: tasks still pending after it are leaks.

    The hooks call it at the end of each phase and, when the phase raised, before raising
    again. perf: a function, not a context manager (three phases per test).
    """
    __tracebackhide__ = True
    if window is None:
        window = checks.windows.get(item)
        if window is None:
            return
    if exc is None:
        if when != "teardown" and window.quiet():
            return  # perf: nearly always, nothing found (a teardown settles the window first)
        _finish(item, when, window, timed_out=None)
    elif isinstance(exc, StepTimeout):
        _finish(item, when, window, timed_out=str(exc))
    else:
        _annotate(item, when, window, exc)


def judged(
    checks: Checks, item: pytest.Item, when: str, window: _checks.Window | None
) -> Generator[None, object, object]:
    """A hook wrapper's phase, judged by :func:`phase_over` when it ends: the wrapper
    ``return (yield from judged(...))`` around pytest's setup or teardown."""
    __tracebackhide__ = True
    try:
        result = yield
    except BaseException as exc:
        phase_over(checks, item, when, window, exc)
        raise
    phase_over(checks, item, when, window, None)
    return result


def _annotate(item: pytest.Item, when: str, window: _checks.Window, exc: BaseException) -> None:
    """The phase failed: its error findings become notes on the exception, and the tasks
    pending when one of its steps failed a section of its report."""
    if not isinstance(exc, pytest.skip.Exception):
        _report_pending(item, when, window, exc)
    if when == "teardown" and not isinstance(exc, KeyboardInterrupt):
        window.settle()
    for message in _advise(item, when, window.take()):
        exc.add_note(message)


#: The key of the section that lists a failure's pending tasks: pytest titles it
#: ``Captured awaitest pending tasks <phase>`` (``Captured awaitest <phase>`` is the advisories').
PENDING_KEY: Final = "awaitest pending tasks"
_FAILED: Final = {"setup": "its setup", "call": "it", "teardown": "its teardown"}


def _report_pending(
    item: pytest.Item, when: str, window: _checks.Window, exc: BaseException
) -> None:
    """A step of this phase failed with ``exc`` (or with what ``exc`` holds) while tasks the
    test started were pending: list them in the phase's report."""
    found = window.pending_at(exc)
    if found is None:
        return
    count, lines = found
    started = f"that {window.name} started"
    tasks = f"{count} tasks {started} were" if count > 1 else f"1 task {started} was"
    head = (
        f"{tasks} still pending when {_FAILED.get(when, when)} failed "
        "(asyncio_pending_on_failure = true):"
    )
    item.add_report_section(when, PENDING_KEY, "\n".join([head, *(f"  {line}" for line in lines)]))


def _finish(item: pytest.Item, when: str, window: _checks.Window, *, timed_out: str | None) -> None:
    """The phase passed (or a step timed out): error findings fail it, the others advise."""
    __tracebackhide__ = True
    if when == "teardown":
        window.settle()
    if timed_out is None and window.quiet():
        return  # nearly always: nothing found
    errors = _advise(item, when, window.take())
    if timed_out is not None:
        errors.insert(0, timed_out)
    if errors:
        # from None: when a step timed out we are still inside the handling of StepTimeout
        raise pytest.fail.Exception("\n\n".join(errors), pytrace=False) from None


def _advise(item: pytest.Item, when: str, findings: list[_checks.Finding]) -> list[str]:
    """Report the ``warn`` findings as advisories of the test; return the ``error`` ones."""
    errors = []
    for finding in findings:
        if finding.severity == "warn":
            advise(item, when, finding.message)
        elif finding.severity == "error":
            errors.append(finding.message)
    return errors


def _ignored_by_mark(owner: object, message: str, category: type[Warning]) -> bool:
    """Whether the test's own ``filterwarnings`` marks ignore this warning. pytest puts each
    mark's filters in front of the ones before it, closest mark first, so the last one that
    matches decides. (A filter's module and line parts are not compared.)"""
    if not isinstance(owner, pytest.Item):
        return False
    action = None
    for mark in owner.iter_markers(name="filterwarnings"):
        for arg in mark.args:
            parts = [part.strip() for part in str(arg).split(":")]
            parts += [""] * (3 - len(parts))
            wanted = _warning_category(parts[2])
            if wanted is None or not issubclass(category, wanted):
                continue
            try:
                if not parts[1] or re.match(parts[1], message, re.IGNORECASE):
                    action = parts[0]
            except re.error:  # pytest refuses such a mark itself
                continue
    return action == "ignore"


def _warning_category(name: str) -> type[Warning] | None:
    """A filter's category, as pytest resolves it: a builtin or a dotted name."""
    if not name:
        return Warning
    module, _, attribute = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module) if module else builtins, attribute)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if isinstance(found, type) and issubclass(found, Warning) else None
