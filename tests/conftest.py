from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _helpers import ini

pytest_plugins = ["pytester"]

#: ``AWAITEST_SUITE_COUNT=PATH`` (with ``AWAITEST_SUITE_CONCURRENCY``): each pytester run loads
#: the ``_suite_count`` plugin (this directory), which appends its run's counts to ``PATH``; the
#: outer run's summary adds them up. Off, nothing is loaded or written.
COUNT: str | None = os.environ.get("AWAITEST_SUITE_COUNT") or None
TESTS = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    if COUNT is not None and str(TESTS) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        # an inner run's xdist workers get the sys.path this interpreter started with
        raise pytest.UsageError(f"AWAITEST_SUITE_COUNT needs PYTHONPATH={TESTS}")
    config.addinivalue_line(
        "markers",
        "serial_only(reason): AWAITEST_SUITE_CONCURRENCY is not applied to this test's pytester "
        "runs: it asserts a line concurrency legitimately adds or changes (the reason says which)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if COUNT is not None and not hasattr(session.config, "workerinput"):
        Path(COUNT).write_text("")  # the controller (or a run without xdist) starts afresh


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNT is None or hasattr(terminalreporter.config, "workerinput"):
        return
    ran = alone = runs = 0
    reasons: dict[str, int] = {}
    for line in Path(COUNT).read_text().splitlines():
        counted = json.loads(line)
        runs += 1
        ran += counted["ran"]
        alone += len(counted["alone"])
        for reason in counted["alone"]:
            reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.write_sep("=", "inner async tests (AWAITEST_SUITE_COUNT)")
    terminalreporter.write_line(
        f"{runs} pytester runs: {ran} inner tests ran concurrently, {alone} opted in and ran alone"
    )
    for reason, count in sorted(reasons.items(), key=lambda pair: -pair[1]):
        terminalreporter.write_line(f"  {count:5d} ran alone: {reason}")


@pytest.fixture(params=["strict", "auto"])
def mode(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> str:
    """Run a plugin test once per mode; in strict mode async tests carry the marker."""
    value: str = request.param
    ini(pytester, asyncio_mode=value)
    return value


@pytest.fixture(autouse=True)
def _suite_concurrency(request: pytest.FixtureRequest) -> None:
    """``AWAITEST_SUITE_CONCURRENCY=N``: every pytester run of this suite gets
    ``asyncio_concurrency = N`` and ``asyncio_concurrent_tests = all``, so each async test that is
    eligible runs concurrently; issue 18 asks the suite to pass that way too. pytester clears
    ``PYTEST_ADDOPTS`` when it starts, so it is set again after; ``AWAITEST_SUITE_ADDOPTS`` adds
    more options (a plugin counting what ran concurrently, say)."""
    value = os.environ.get("AWAITEST_SUITE_CONCURRENCY")
    if not value or "pytester" not in request.fixturenames:
        return
    if request.node.get_closest_marker("serial_only") is not None:
        return  # the test's own lines are those of a serial run (see its marker's reason)
    request.getfixturevalue("pytester")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    extra = os.environ.get("AWAITEST_SUITE_ADDOPTS", "")
    if COUNT is not None:
        extra = f"-p _suite_count {extra}"  # importable: PYTHONPATH names tests/ (configure)
    addopts = f"-o asyncio_concurrency={value} -o asyncio_concurrent_tests=all {extra}"
    monkeypatch.setenv("PYTEST_ADDOPTS", addopts.strip())
