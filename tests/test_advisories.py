"""Advisories: what awaitest reports where pytest-asyncio is silent reaches the user in the
terminal summary and the test's report, never as a warning, so ``filterwarnings = error``
suites that pass under pytest-asyncio pass here too."""

from __future__ import annotations

import pytest

STRICT_WARNINGS = "[pytest]\nasyncio_mode = auto\nfilterwarnings = error\n"

SESSION_LOOP_CONFTEST = """
import asyncio
import pytest

@pytest.fixture(scope="session")
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
"""

ON_THE_SESSION_LOOP = """
import asyncio

LOOPS = []

async def test_one():
    LOOPS.append(asyncio.get_running_loop())

async def test_two():
    assert asyncio.get_running_loop() is LOOPS[0]
"""

EVENT_LOOP_ADVICE = (
    "The event_loop fixture at conftest.py:4 overrides awaitest's: a user-defined event_loop "
    "fixture is deprecated (pytest-asyncio removed it in 1.0). awaitest runs the tests and "
    "async fixtures that see it on the loop it returns; to share one loop without it, delete "
    'the fixture and mark the tests @pytest.mark.asyncio(loop_scope="session") (or set '
    'asyncio_default_test_loop_scope = session) and give async fixtures loop_scope="session".'
)


def test_user_event_loop_override_passes_under_filterwarnings_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(STRICT_WARNINGS)
    pytester.makeconftest(SESSION_LOOP_CONFTEST)
    pytester.makepyfile(test_session=ON_THE_SESSION_LOOP)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            f"test_session.py::test_one: {EVENT_LOOP_ADVICE}",
            "*= 2 passed in *",
        ]
    )
    result.stdout.no_fnmatch_line("*= warnings summary =*")


def test_the_advisory_is_a_section_of_the_tests_report(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_WARNINGS)
    pytester.makeconftest(SESSION_LOOP_CONFTEST)
    pytester.makepyfile(test_session=ON_THE_SESSION_LOOP)
    result = pytester.runpytest("-p", "no:randomly", "-rP")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= PASSES =*",
            "*_ test_one _*",
            "*- Captured awaitest setup -*",
            EVENT_LOOP_ADVICE,
            "*= awaitest advisories =*",
        ]
    )


MIXED = """
import asyncio
import pytest

@pytest.fixture(scope="module")
async def pool():
    return asyncio.get_running_loop()

@pytest.mark.parametrize("n", range(5))
@pytest.mark.asyncio(loop_scope="function")
async def test_narrow(pool, n):
    assert asyncio.get_running_loop() is not pool
"""


def test_mixed_loops_are_one_advisory_naming_the_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_WARNINGS)
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_mixed.py::test_narrow[[]0[]], test_mixed.py::test_narrow[[]1[]], "
            "test_mixed.py::test_narrow[[]2[]] and 2 more: The test runs on the function loop "
            "but uses async fixtures on other loops: 'pool' on the module loop. Objects bound "
            "to one loop (connections, locks, tasks) fail on another. Fix: "
            '@pytest.mark.asyncio(loop_scope="module") on the test, or loop_scope="function" '
            "on fixture 'pool'",
            "*= 5 passed in *",
        ]
    )


def test_advisories_from_xdist_workers_reach_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_WARNINGS)
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*= awaitest advisories =*", "test_mixed.py::test_narrow[[]*[]] and 2 more: The test *"]
    )


def test_a_real_bug_still_fails_its_test(pytester: pytest.Pytester) -> None:
    """Advisories are for what isn't a bug; a missing await is one, and fails as before."""
    pytester.makeini(STRICT_WARNINGS)
    pytester.makepyfile(
        test_forgot="""
        import asyncio

        async def test_forgot():
            asyncio.sleep(0)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["coroutine sleep() was never awaited; dropped at test_forgot.py:4 (in test_forgot)*"]
    )
    result.stdout.no_fnmatch_line("*awaitest advisories*")


def test_no_section_when_there_is_nothing_to_say(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_WARNINGS)
    pytester.makepyfile("async def test_fine():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*awaitest*advisories*")
