"""Per-test deadlines: ini, CLI and marker; hung awaits, blocked loops, teardown, debuggers."""

from __future__ import annotations

import pytest
from _helpers import ini

LOOP_SCOPES = ["function", "module", "session"]

HANG = """
import asyncio
import pytest

async def forever():
    await asyncio.Event().wait()

@pytest.mark.asyncio(loop_scope="{scope}"{marker})
async def test_hangs():
    await forever()

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_after():
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("scope", LOOP_SCOPES)
@pytest.mark.parametrize(
    ("keys", "args", "marker", "source"),
    [
        ({"asyncio_timeout": "0.2"}, [], "", "asyncio_timeout = 0.2"),
        ({}, ["--asyncio-timeout=0.2"], "", "--asyncio-timeout=0.2"),
        ({"asyncio_timeout": "100"}, [], ", timeout=0.2", "@pytest.mark.asyncio(timeout=0.2)"),
    ],
    ids=["ini", "cli", "marker-wins"],
)
def test_hung_await_fails_with_every_pending_task(
    pytester: pytest.Pytester,
    *,
    scope: str,
    keys: dict[str, str],
    args: list[str],
    marker: str,
    source: str,
) -> None:
    ini(pytester, **keys)
    pytester.makepyfile(test_hang=HANG.format(scope=scope, marker=marker))
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            f"timed out after 0.2 s ({source}); pending tasks at that moment:",
            "Task * running test_hangs():",
            '  File "*test_hang.py", line 9, in test_hangs',
            "    await forever()",
            '  File "*test_hang.py", line 5, in forever',
            "    await asyncio.Event().wait()",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_hang.py::test_hangs - Failed: timed out after 0.2*"])


def test_marker_timeout_zero_turns_the_ini_deadline_off(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_timeout="0.2")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio(timeout=0)
        async def test_slow():
            await asyncio.sleep(0.4)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_deadline_covers_fixture_setup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def slow_server():
            await asyncio.sleep(30)
            yield

        @pytest.mark.asyncio(timeout=0.2)
        async def test_uses(slow_server):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses*",
            "timed out after 0.2 s (@pytest.mark.asyncio(timeout=0.2)); pending tasks at that*",
            "Task * async fixture slow_server():",
            '  File "*test_deadline_covers_fixture_setup.py", line 7, in slow_server',
            "    await asyncio.sleep(30)",
        ]
    )


def test_teardown_runs_once_after_a_timeout_and_the_run_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def resource():
            yield
            await asyncio.sleep(0)
            print("teardown ran")

        @pytest.mark.asyncio(timeout=0.2)
        async def test_hangs(resource):
            try:
                await asyncio.sleep(30)
            finally:
                print("test finally ran")

        @pytest.mark.asyncio
        async def test_next():
            pass
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(failed=1, passed=1)
    assert result.stdout.str().count("teardown ran") == 1
    result.stdout.fnmatch_lines(["*test finally ran*", "*teardown ran*"])


def test_deadline_covers_fixture_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def stuck_on_close():
            yield
            await asyncio.sleep(30)

        @pytest.mark.asyncio(timeout=0.2)
        async def test_uses(stuck_on_close):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses*",
            "timed out after 0.2 s (@pytest.mark.asyncio(timeout=0.2)); pending tasks at that*",
            "Task * async fixture stuck_on_close():",
            "*line 8, in stuck_on_close",
            "    await asyncio.sleep(30)",
        ]
    )


@pytest.mark.parametrize("where", ["test", "callback"])
def test_blocked_loop_is_interrupted_at_the_blocking_line(
    pytester: pytest.Pytester, where: str
) -> None:
    call = "legacy_client_call()"
    if where == "callback":
        call = "asyncio.get_running_loop().call_soon(legacy_client_call)"
    pytester.makepyfile(
        test_blocked=f"""
        import asyncio
        import time
        import pytest

        def legacy_client_call():
            time.sleep(10)

        @pytest.mark.asyncio(timeout=0.2)
        async def test_blocks():
            {call}
            await asyncio.sleep(10)

        @pytest.mark.asyncio
        async def test_next():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "timed out after 0.2 s (@pytest.mark.asyncio(timeout=0.2)): the event loop was "
            "blocked, and was interrupted in:",
            '  File "*test_blocked.py", line 6, in legacy_client_call',
            "    time.sleep(10)",
        ]
    )


@pytest.mark.parametrize("debugger", ["--pdb", "settrace"])
def test_no_deadline_under_a_debugger(pytester: pytest.Pytester, debugger: str) -> None:
    pytester.makepyfile(
        pydevd="""
        def trace(frame, event, arg):
            return None
        """
    )
    pytester.makepyfile(
        f"""
        import asyncio
        import sys
        import pytest
        import pydevd

        @pytest.mark.asyncio(timeout=0.2)
        async def test_paused_at_a_breakpoint():
            previous = sys.gettrace()
            if {debugger == "settrace"}:
                sys.settrace(pydevd.trace)
            try:
                await asyncio.sleep(0.5)
            finally:
                sys.settrace(previous)
        """
    )
    args = ["--pdb"] if debugger == "--pdb" else []
    pytester.runpytest(*args).assert_outcomes(passed=1)


def _tracer(frame: object, event: str, arg: object) -> None:
    return None


@pytest.mark.parametrize(
    ("module", "debugging"),
    [("pydevd", True), ("bdb", True), ("debugpy._vendored", True), ("coverage.pytracer", False)],
)
def test_debugger_is_recognised_by_its_trace_function(
    monkeypatch: pytest.MonkeyPatch, module: str, debugging: bool
) -> None:
    from awaitest._checks import deadlines as _timeouts

    monkeypatch.setattr(_tracer, "__module__", module)
    monkeypatch.setattr("sys.gettrace", lambda: _tracer)
    assert _timeouts.debugger_active() is debugging
