"""pytest-timeout's timeouts (marker, --timeout, ini, PYTEST_TIMEOUT) on async tests are carried
by awaitest, with its report; sync tests, and what awaitest can't carry, keep pytest-timeout's."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from _helpers import ini

from awaitest import _checks
from awaitest._checks.deadlines import Deadline, Outside

#: A regression that hangs fails the test (and ends its process) instead of hanging the
#: suite; a timer thread, not SIGALRM, so the runs inside keep SIGALRM free for awaitest.
HANG_GUARD = pytest.mark.timeout(60, method="thread")

HEADER_LINE = (
    "pytest-timeout: awaitest carries its timeouts for async tests (a timed-out test is "
    "cancelled and reported with its pending tasks; the run goes on)"
)

HANGING = """
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def connection():
    yield
    await asyncio.sleep(0)
    print("teardown ran")

async def wait_for_reply():
    await asyncio.Event().wait()

{marker}
@pytest.mark.asyncio
async def test_hangs(connection):
    await wait_for_reply()

@pytest.mark.asyncio
async def test_next():
    pass
"""


@HANG_GUARD
@pytest.mark.parametrize("method", ["", ', method="thread"', ', method="signal"'])
def test_marker_timeout_on_a_hanging_async_test_is_reported_by_awaitest(
    pytester: pytest.Pytester, method: str
) -> None:
    """Whichever method: the test is cancelled (never the process ended), its fixture's
    teardown runs once, the next test runs, and the report is the pending tasks' stacks."""
    pytester.makepyfile(test_hang=HANGING.format(marker=f"@pytest.mark.timeout(0.5{method})"))
    result = pytester.runpytest("-s")
    result.assert_outcomes(failed=1, passed=1)
    assert result.stdout.str().count("teardown ran") == 1
    # pending tasks are listed by name, and CPython 3.13.0-3.13.2 names the test's task 'None'
    result.stdout.fnmatch_lines(
        [
            "timed out after 0.5 s (@pytest.mark.timeout(0.5)); pending tasks at that moment:",
            "Task * async fixture connection():",
            '  File "*test_hang.py", line 7, in connection',
            "    yield",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            HEADER_LINE,
            "*_ test_hangs _*",
            "timed out after 0.5 s (@pytest.mark.timeout(0.5)); pending tasks at that moment:",
            "Task * running test_hangs():",
            '  File "*test_hang.py", line 17, in test_hangs',
            "    await wait_for_reply()",
            '  File "*test_hang.py", line 12, in wait_for_reply',
            "    await asyncio.Event().wait()",
            # pytest-timeout's marker gives it longer: awaitest's wouldn't (the shorter wins)
            "Needs longer? Mark the test: @pytest.mark.timeout(1)",
            "FAILED test_hang.py::test_hangs - Failed: timed out after 0.5 s*",
        ]
    )
    result.stdout.no_fnmatch_line("*Timeout (>*s) from pytest-timeout*")
    result.stdout.no_fnmatch_line("*selectors.py*")


@HANG_GUARD
@pytest.mark.parametrize(
    ("keys", "args", "env", "source"),
    [
        ({"timeout": "0.5"}, [], None, "timeout = 0.5"),
        ({}, ["--timeout=0.5"], None, "--timeout=0.5"),
        ({"timeout": "100"}, ["--timeout=0.5"], None, "--timeout=0.5"),
        ({}, [], "0.5", "PYTEST_TIMEOUT=0.5"),
    ],
    ids=["ini", "flag", "flag-wins-over-ini", "variable"],
)
def test_timeout_from_the_flag_the_ini_or_the_variable(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    *,
    keys: dict[str, str],
    args: list[str],
    env: str | None,
    source: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("PYTEST_TIMEOUT", env)
    else:
        monkeypatch.delenv("PYTEST_TIMEOUT", raising=False)
    ini(pytester, **keys)
    pytester.makepyfile(test_hang=HANGING.format(marker=""))
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            f"timed out after 0.5 s ({source}); pending tasks at that moment:",
            "Task * running test_hangs():",
            '  File "*test_hang.py", line 17, in test_hangs',
            "    await wait_for_reply()",
            "*",
            "Needs longer? Mark the test: @pytest.mark.timeout(1)",
        ]
    )


@HANG_GUARD
@pytest.mark.parametrize(
    ("keys", "marker", "source"),
    [
        ({"asyncio_timeout": "0.4", "timeout": "30"}, "", "asyncio_timeout = 0.4"),
        ({"asyncio_timeout": "30"}, "@pytest.mark.timeout(0.4)", "@pytest.mark.timeout(0.4)"),
    ],
    ids=["asyncio_timeout-shorter", "pytest-timeout-shorter"],
)
def test_the_shorter_of_asyncio_timeout_and_pytest_timeout_applies(
    pytester: pytest.Pytester, keys: dict[str, str], marker: str, source: str
) -> None:
    ini(pytester, **keys)
    pytester.makepyfile(test_hang=HANGING.format(marker=marker))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    longer = "timeout(0.8)" if "timeout" in marker else "awaitest(timeout=0.8)"
    result.stdout.fnmatch_lines(
        [
            f"timed out after 0.4 s ({source}); pending tasks at that moment:",
            f"Needs longer? Mark the test: @pytest.mark.{longer}",
        ]
    )


@HANG_GUARD
def test_sync_tests_keep_pytest_timeouts_own_behaviour(pytester: pytest.Pytester) -> None:
    """Between async tests, a sync test fails as pytest-timeout fails it; the blocked async
    test after it is still interrupted by awaitest (pytest-timeout reset SIGALRM meanwhile)."""
    pytester.makepyfile(
        test_mixed="""
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_async_before():
            await asyncio.sleep(0)

        def test_sync_hangs():
            time.sleep(30)

        @pytest.mark.asyncio
        async def test_async_blocks():
            time.sleep(30)

        def test_sync_after():
            pass
        """
    )
    result = pytester.runpytest("--timeout=0.5")
    result.assert_outcomes(failed=2, passed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_sync_hangs _*",
            "    def test_sync_hangs():",
            ">       time.sleep(30)",
            "E       Failed: Timeout (>0.5s) from pytest-timeout.",
            "test_mixed.py:10: Failed",
            "*_ test_async_blocks _*",
            "timed out after 0.5 s (--timeout=0.5): the event loop was blocked, and was "
            "interrupted in:",
            '  File "*test_mixed.py", line 14, in test_async_blocks',
            "    time.sleep(30)",
            "Needs longer? Mark the test: @pytest.mark.timeout(1)",
        ]
    )


@HANG_GUARD
@pytest.mark.parametrize("phase", ["setup", "teardown"])
def test_a_hanging_sync_fixture_of_an_async_test_is_interrupted(
    pytester: pytest.Pytester, phase: str
) -> None:
    """pytest-timeout's timer covered the sync fixtures of a test; the deadline awaitest carries
    does too, and a retry loop's ``except Exception`` doesn't swallow it."""
    setup, teardown = (
        ("wait_until_ready()", "pass") if phase == "setup" else ("pass", "wait_until_ready()")
    )
    pytester.makepyfile(
        test_service=f"""
        import time
        import pytest

        def wait_until_ready():
            while True:
                try:
                    time.sleep(30)  # polls a service that never comes up
                except Exception:
                    pass

        @pytest.fixture
        def service():
            {setup}
            yield
            {teardown}

        @pytest.mark.asyncio
        async def test_uses(service):
            pass

        @pytest.mark.asyncio
        async def test_next():
            pass
        """
    )
    result = pytester.runpytest("--timeout=0.5")
    result.assert_outcomes(errors=1, passed=2 if phase == "teardown" else 1)
    result.stdout.fnmatch_lines(
        [
            f"*_ ERROR at {phase} of test_uses _*",
            "timed out after 0.5 s (--timeout=0.5): the test was stuck outside the event loop, "
            "and was interrupted in:",
            f'  File "*test_service.py", line {13 if phase == "setup" else 15}, in service',
            f"    {setup if phase == 'setup' else teardown}",
            '  File "*test_service.py", line 7, in wait_until_ready',
            "    time.sleep(30)  # polls a service that never comes up",
            "Needs longer? Mark the test: @pytest.mark.timeout(1)",
        ]
    )


@HANG_GUARD
def test_a_run_timed_by_pytest_timeout_runs_its_async_tests_alone(
    pytester: pytest.Pytester,
) -> None:
    """Concurrency on: pytest-timeout's timer of the run spans each test's whole protocol, which a
    test in flight leaves after its setup (its sync fixture's hanging teardown would go
    untimed), so each test runs alone and is timed as it is serially."""
    pytester.makepyfile(
        test_service="""
        import time
        import pytest

        @pytest.fixture
        def service():
            yield
            time.sleep(30)  # a service that never stops

        async def test_uses(service):
            pass

        async def test_next():
            pass
        """
    )
    result = pytester.runpytest(
        "--timeout=0.5",
        "-v",
        "-p",
        "no:randomly",
        "-o",
        "asyncio_mode=auto",
        "--asyncio-concurrency=2",
        "--asyncio-concurrent-tests=all",
    )
    result.assert_outcomes(errors=1, passed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_uses _*",
            "timed out after 0.5 s (--timeout=0.5): the test was stuck outside the event loop, "
            "and was interrupted in:",
            '  File "*test_service.py", line 7, in service',
            "    time.sleep(30)  # a service that never stops",
            "*= awaitest concurrency =*",
            "test_service.py::test_uses ran alone: it is timed by pytest-timeout (--timeout=0.5)",
            "test_service.py::test_next ran alone: it is timed by pytest-timeout (--timeout=0.5)",
            "concurrency: 0 tests ran concurrently (at most 0 at once), 2 ran alone",
        ]
    )


@HANG_GUARD
def test_func_only_times_the_call_and_not_the_fixtures(pytester: pytest.Pytester) -> None:
    ini(pytester, timeout="0.5", timeout_func_only="true")
    pytester.makepyfile(
        test_func_only="""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def slow_to_start():
            await asyncio.sleep(0.8)
            yield
            await asyncio.sleep(0.8)

        @pytest.mark.asyncio
        async def test_slow_fixture(slow_to_start):
            pass

        @pytest.mark.asyncio
        async def test_hangs():
            await asyncio.Event().wait()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_hangs _*",
            "timed out after 0.5 s (timeout = 0.5); pending tasks at that moment:",
            "Task * running test_hangs():",
            '  File "*test_func_only.py", line 17, in test_hangs',
            "    await asyncio.Event().wait()",
            "Needs longer? Mark the test: @pytest.mark.timeout(1)",
        ]
    )


@HANG_GUARD
def test_what_awaitest_leaves_to_pytest_timeout_is_said_once(pytester: pytest.Pytester) -> None:
    """With disable_debugger_detection, the user wants timeouts under a debugger, where
    awaitest's are off: pytest-timeout times those tests, and the summary says so once."""
    pytester.makepyfile(
        test_left="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_one():
            await asyncio.Event().wait()

        @pytest.mark.asyncio
        async def test_two():
            await asyncio.Event().wait()
        """
    )
    result = pytester.runpytest("--timeout=0.5", "--timeout-disable-debugger-detection")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * Failed: Timeout (>0.5s) from pytest-timeout.",  # in asyncio's selector
            "E * Failed: Timeout (>0.5s) from pytest-timeout.",
            "pytest-timeout timed 2 async tests itself, not awaitest (disable_debugger_detection "
            "is set; awaitest's deadlines are off in a debugger): test_left.py::test_one, "
            "test_left.py::test_two",
        ]
    )
    assert result.stdout.str().count("pytest-timeout timed") == 1


@HANG_GUARD
def test_without_pthread_kill_every_timeout_stays_pytest_timeouts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Windows: a blocked loop couldn't be interrupted, so awaitest carries nothing."""
    monkeypatch.delattr(signal, "pthread_kill")
    pytester.makepyfile(test_hang=HANGING.format(marker="@pytest.mark.timeout(0.5)"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-timeout: awaitest leaves every timeout to pytest-timeout here (no "
            "signal.pthread_kill to interrupt a blocked event loop)",
            "E * Failed: Timeout (>0.5s) from pytest-timeout.",
        ]
    )
    result.stdout.no_fnmatch_line("pytest-timeout timed*")  # the header said it, once


def test_the_header_says_so_only_when_pytest_timeout_is_active(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    with_it = pytester.runpytest()
    with_it.stdout.fnmatch_lines([HEADER_LINE])
    without = pytester.runpytest("-p", "no:timeout")
    without.assert_outcomes(passed=1)
    without.stdout.no_fnmatch_line("pytest-timeout:*")


# -- the mechanics behind it, on the injected clock ---------------------------------------------


@pytest.fixture
def clock() -> list[float]:
    return [0.0]


@pytest.fixture
def monitor(clock: list[float]) -> Iterator[_checks.Monitor]:
    monitor = _checks.Monitor(_checks.Policy(), clock=lambda: clock[0])
    yield monitor
    monitor.stop()


def test_func_only_deadline_applies_when_it_ends_first(
    monitor: _checks.Monitor, clock: list[float]
) -> None:
    own = Deadline(10.0, "asyncio_timeout = 10")
    window = monitor.open("test_x", own)
    clock[0] = 2.0
    window.impose(Deadline(3.0, "timeout = 3"))
    assert (window.deadline, window.deadline_at) == (Deadline(3.0, "timeout = 3"), 5.0)
    window.lift()
    assert (window.deadline, window.deadline_at) == (own, 10.0)
    window.impose(Deadline(30.0, "timeout = 30"))  # ends after the window's own: no change
    assert (window.deadline, window.deadline_at) == (own, 10.0)
    window.lift()
    window.close()


def test_after_the_func_only_deadline_expired_the_own_one_restarts(
    monitor: _checks.Monitor, clock: list[float]
) -> None:
    own = Deadline(10.0, "asyncio_timeout = 10")
    window = monitor.open("test_x", own)
    window.impose(Deadline(3.0, "timeout = 3"))
    clock[0] = 9.5
    window.restart_deadline()  # what a step does after its expiry
    window.lift()
    assert (window.deadline, window.deadline_at) == (own, 19.5)  # the teardown's allowance
    window.close()


def _frame_of_module(name: str) -> FrameType:
    namespace: dict[str, Any] = {"__name__": name, "sys": sys}
    exec(compile("def where():\n    return sys._getframe()\n", f"{name}.py", "exec"), namespace)
    frame: FrameType = namespace["where"]()
    return frame


@pytest.mark.parametrize("module", ["_pytest.fixtures", "pluggy._callers", "asyncio.events"])
def test_outside_the_loop_a_timeout_is_never_raised_in_the_harness(module: str) -> None:
    outside = Outside(Deadline(1.0, "--timeout=1", covers_sync=True))
    outside.sent_at = 1.0
    assert outside.interruption(_frame_of_module(module)) is None
    assert outside.sent_at == 1.0  # still waiting: the watchdog tries again a grace later


def test_outside_the_loop_a_timeout_names_the_stuck_line() -> None:
    outside = Outside(Deadline(1.0, "--timeout=1", covers_sync=True))
    assert not outside.due(0.5, deadline_at=1.0)
    assert outside.due(1.0, deadline_at=1.0)
    outside.sent_at = 1.0
    assert not outside.due(1.2, deadline_at=1.0)  # an interrupt is on its way
    assert outside.due(1.5, deadline_at=1.0)  # a grace later: again
    here = sys._getframe()
    line, name = here.f_lineno + 1, here.f_code.co_name
    message = outside.interruption(sys._getframe())
    assert message is not None
    assert message.splitlines()[:2] == [
        "timed out after 1 s (--timeout=1): the test was stuck outside the event loop, and "
        "was interrupted in:",
        f'  File "{__file__}", line {line}, in {name}',
    ]
    assert outside.sent_at is None
