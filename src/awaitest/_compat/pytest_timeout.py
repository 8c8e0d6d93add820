"""pytest-timeout's timeouts, carried by awaitest for the async tests it runs.

pytest-timeout (``@pytest.mark.timeout(N)``, ``--timeout``, the ``timeout`` ini key, the
``PYTEST_TIMEOUT`` variable) arms a timer around each test: SIGALRM (``method = signal``), whose
handler fails the test in whatever frame runs -- in an async test the selector's, so the report
shows asyncio's internals and not the line the test waits on -- or a thread that ends the whole
run (``method = thread``). It lets a plugin take the timer over: ``pytest_timeout_set_timer`` and
``pytest_timeout_cancel_timer`` are first-result hooks, called around the whole test, or around
its call only with ``func_only``.

For an async test awaitest runs, awaitest answers them: the timeout becomes the test's deadline
(the shorter one applies when ``asyncio_timeout`` or the asyncio marker gives one too), reported
the awaitest way -- the pending tasks' stacks, teardown run once, the run going on -- whichever
``method`` was asked. Like pytest-timeout's timer it covers the whole test, sync fixtures
included (``covers_sync``); with ``func_only`` only the call.

pytest-timeout keeps sync tests, its session timeout, the async tests of other plugins (trio,
anyio), and async tests awaitest can't carry: where a blocked loop can't be interrupted (no
``signal.pthread_kill``, another SIGALRM handler installed) and with
``disable_debugger_detection`` (awaitest's deadlines are off under a debugger). The report
header says awaitest carries the timeouts; each reason a test was left to pytest-timeout is said
once, in the terminal summary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import pytest

from .._checks.deadlines import Alarm, Deadline
from .._report import Checks

#: pytest-timeout's plugin name (its entry point), as ``-p no:timeout`` uses it.
PLUGIN: Final = "timeout"
#: pytest-timeout's marker: what a carried deadline's report says gives the test longer.
MARKER: Final = "timeout"
#: How many tests a summary line names before it only counts.
_NAMED: Final = 5


class PytestTimeout:
    """The run's side of pytest-timeout's hooks: which tests awaitest times, and why not."""

    __slots__ = ("checks", "config", "left", "planned", "taken")

    def __init__(self, checks: Checks, planned: Mapping[pytest.Item, object]) -> None:
        self.checks = checks
        self.config = checks.config
        self.planned = planned  # the async tests awaitest runs
        self.taken: set[pytest.Item] = set()  # whose timer is ours until it is cancelled
        self.left: dict[str, list[str]] = {}  # reason -> node ids left to pytest-timeout

    def active(self) -> bool:
        return self.config.pluginmanager.has_plugin(PLUGIN)

    def header(self) -> list[str]:
        if not self.active():
            return []
        if not Alarm.available():
            return [
                "pytest-timeout: awaitest leaves every timeout to pytest-timeout here "
                "(no signal.pthread_kill to interrupt a blocked event loop)"
            ]
        return [
            "pytest-timeout: awaitest carries its timeouts for async tests (a timed-out test "
            "is cancelled and reported with its pending tasks; the run goes on)"
        ]

    def set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        """``pytest_timeout_set_timer``: True when awaitest times ``item``, None to leave it to
        pytest-timeout (``settings`` is pytest-timeout's ``Settings`` tuple)."""
        if item not in self.planned or not Alarm.available():
            return None  # not an async test of ours, or every test (the header says so)
        reason = self._cannot_carry(settings)
        if reason is not None:
            self.left.setdefault(reason, []).append(item.nodeid)
            return None
        seconds = float(settings.timeout)
        source = _source(item, seconds)
        if settings.func_only:
            window = self.checks.windows.get(item)
            if window is None:
                return None  # no window: nothing of awaitest's runs now
            window.impose(Deadline(seconds, source, marker=MARKER))
        else:
            self.checks.carried[item] = Deadline(seconds, source, covers_sync=True, marker=MARKER)
        self.taken.add(item)
        return True

    def cancel_timer(self, item: pytest.Item) -> bool | None:
        """``pytest_timeout_cancel_timer``: end what :meth:`set_timer` took; None for the
        rest (pytest-timeout cancels its own timer, or finds none to cancel)."""
        if item not in self.taken:
            return None
        self.taken.discard(item)
        self.checks.carried.pop(item, None)
        window = self.checks.windows.get(item)
        if window is not None:
            window.lift()
        return True

    def summary(self, terminal: pytest.TerminalReporter) -> None:
        """One line per reason a test's timeout was left to pytest-timeout."""
        for reason, nodeids in self.left.items():
            named = ", ".join(nodeids[:_NAMED])
            more = f" and {len(nodeids) - _NAMED} more" if len(nodeids) > _NAMED else ""
            count = f"{len(nodeids)} async test" + ("s" if len(nodeids) > 1 else "")
            terminal.write_line(
                f"pytest-timeout timed {count} itself, not awaitest ({reason}): {named}{more}"
            )

    def _cannot_carry(self, settings: Any) -> str | None:
        if getattr(settings, "disable_debugger_detection", False):
            return "disable_debugger_detection is set; awaitest's deadlines are off in a debugger"
        if not self.checks.monitor_of_run().alarm.usable():
            return "another SIGALRM handler is installed: a blocked loop couldn't be interrupted"
        return None


def run_timeout(config: pytest.Config) -> str | None:
    """pytest-timeout's timeout for every test of the run (``--timeout``, ``PYTEST_TIMEOUT``, the
    ``timeout`` ini key, in its order) as its source says it, or None: none, 0 (off), or
    pytest-timeout not loaded. A value it can't read is its own error, not ours."""
    if not config.pluginmanager.has_plugin(PLUGIN):
        return None
    value: Any = config.getoption("timeout", None)
    if value is None:
        value = os.environ.get("PYTEST_TIMEOUT") or config.getini("timeout")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return _run_source(config, seconds) if seconds > 0 else None


def _source(item: pytest.Item, seconds: float) -> str:
    """Where the timeout comes from, in pytest-timeout's order: marker, flag, variable, ini."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout")
        if value is not None:
            return f"@pytest.mark.timeout({seconds:g})"
    return _run_source(item.config, seconds)


def _run_source(config: pytest.Config, seconds: float) -> str:
    """Where the run's timeout comes from, in pytest-timeout's order: flag, variable, ini."""
    if config.getoption("timeout", None) is not None:
        return f"--timeout={seconds:g}"
    if os.environ.get("PYTEST_TIMEOUT"):
        return f"PYTEST_TIMEOUT={seconds:g}"
    return f"timeout = {seconds:g}"
