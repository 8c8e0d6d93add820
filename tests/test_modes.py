"""Strict and auto mode: which async tests run, and the message when one doesn't."""

from __future__ import annotations

import pytest
from _helpers import ini


def test_marked_async_test_runs_in_both_modes(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_runs():
            await asyncio.sleep(0)
            assert False, "the body ran"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the body ran"])


def test_auto_mode_runs_unmarked_async_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        async def test_unmarked():
            assert False, "the body ran"
        """
    )
    result = pytester.runpytest("--asyncio-mode=auto")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the body ran"])


def test_strict_mode_fails_unmarked_async_test_with_both_fixes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        async def test_forgot_marker():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # line one in pytest's own words
            "test_strict_mode_fails_unmarked_async_test_with_both_fixes.py::test_forgot_marker:"
            " async def functions are not natively supported.",
            "awaitest runs this test once it is marked with @pytest.mark.asyncio, or set"
            " asyncio_mode = auto to run every async test without a marker.",
        ]
    )


def test_cli_mode_wins_over_ini(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="strict")
    pytester.makepyfile("async def test_x():\n    pass\n")
    result = pytester.runpytest("--asyncio-mode=auto")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["asyncio: mode=auto, *"])


def test_marker_on_sync_test_warns(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        def test_sync():
            pass
        """
    )
    result = pytester.runpytest("-W", "default")
    result.assert_outcomes(passed=1, warnings=1)  # as pytest-asyncio warns, with its class
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: test_marker_on_sync_test_warns.py::test_sync is marked with"
            " '@pytest.mark.asyncio' but it is not an async function. The marker does nothing"
            " here: remove it, or if it comes from a class or module pytestmark, mark only the"
            " async tests.",
        ]
    )


@pytest.mark.parametrize("kind", ["function", "method", "staticmethod"])
def test_async_generator_test_is_xfailed_with_a_warning(
    pytester: pytest.Pytester, mode: str, kind: str
) -> None:
    """As pytest-asyncio does: not run, reported as xfailed, a PytestCollectionWarning."""
    test = "@pytest.mark.asyncio\nasync def test_gen(self):\n    yield 1\n"
    if kind == "function":
        test = test.replace("(self)", "()")
    else:
        if kind == "staticmethod":
            test = "@staticmethod\n" + test.replace("(self)", "()")
        test = "class TestGen:\n" + "".join(f"    {line}\n" for line in test.splitlines())
    pytester.makepyfile(
        f"import pytest\n\n{test}\n\n@pytest.mark.asyncio\nasync def test_fine():\n    pass\n"
    )
    result = pytester.runpytest("-W", "default", "-rx")
    result.assert_outcomes(passed=1, xfailed=1, warnings=1)
    reason = (
        "Tests based on asynchronous generators are not supported. test_gen will be ignored: it"
        " contains 'yield', and a test can't yield. Remove the yield, or move the setup and"
        " teardown into an async generator fixture."
    )
    result.stdout.fnmatch_lines(
        [
            f"*PytestCollectionWarning: {reason}",
            f"XFAIL *::test_gen - *[[]NOTRUN[]] {reason}",
        ]
    )
    result.stdout.no_fnmatch_line("*not an async function*")


def test_header_line(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_default_fixture_loop_scope="module")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=auto, debug=False, asyncio_default_fixture_loop_scope=module,"
            " asyncio_default_test_loop_scope=function",
        ]
    )


def test_debug_mode_turns_on_asyncio_debug(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_debug():
            assert asyncio.get_running_loop().get_debug()
        """
    )
    pytester.runpytest("--asyncio-debug").assert_outcomes(passed=1)
    pytester.runpytest("-o", "asyncio_debug=true").assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(failed=1)
