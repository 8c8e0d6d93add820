"""Advisories: what awaitest reports where pytest-asyncio is silent reaches the user in the
terminal summary and the test's report, never as a warning, so ``filterwarnings = error``
suites that pass under pytest-asyncio pass here too."""

from __future__ import annotations

import re
import textwrap

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
            '@pytest.mark.asyncio(loop_scope="module") on the test',
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


# Each shape the mixed-loop advisory covers: a test whose async fixtures are on other loops.
# The decorator right above each ``async def`` is the line a suggested fix replaces.
MIXED_SHAPES = {
    "test_narrower_than_its_fixtures_loop": (
        """
        @pytest.fixture(scope="session")
        async def sess():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="function")
        async def test_it(sess):
            assert sess is asyncio.get_running_loop()
        """,
        "The test runs on the function loop but uses async fixtures on other loops: 'sess' on"
        " the session loop. Objects bound to one loop (connections, locks, tasks) fail on"
        ' another. Fix: @pytest.mark.asyncio(loop_scope="session") on the test',
    ),
    "test_two_wide_fixtures_on_different_loops": (
        """
        @pytest.fixture(scope="module")
        async def mod():
            return asyncio.get_running_loop()

        @pytest.fixture(scope="session")
        async def sess():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio
        async def test_it(mod, sess):
            assert mod is sess is asyncio.get_running_loop()
        """,
        "The test runs on the session loop but uses async fixtures on other loops: 'mod' on"
        " the module loop. Objects bound to one loop (connections, locks, tasks) fail on"
        ' another. Fix: @pytest_asyncio.fixture(scope="module", loop_scope="session") on'
        " fixture 'mod'",
    ),
    "test_marker_between_two_wide_fixtures": (
        """
        @pytest.fixture(scope="module")
        async def mod():
            return asyncio.get_running_loop()

        @pytest.fixture(scope="session")
        async def sess():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_it(mod, sess):
            assert mod is sess is asyncio.get_running_loop()
        """,
        "The test runs on the module loop but uses async fixtures on other loops: 'sess' on"
        " the session loop. Objects bound to one loop (connections, locks, tasks) fail on"
        ' another. Fix: @pytest.mark.asyncio(loop_scope="session") on the test and'
        ' @pytest_asyncio.fixture(scope="module", loop_scope="session") on fixture \'mod\'',
    ),
    "test_wider_than_its_fixtures_loop": (
        """
        @pytest.fixture(scope="module")
        async def mod():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="session")
        async def test_it(mod):
            assert mod is asyncio.get_running_loop()
        """,
        "The test runs on the session loop but uses async fixtures on other loops: 'mod' on"
        " the module loop. Objects bound to one loop (connections, locks, tasks) fail on"
        ' another. Fix: @pytest_asyncio.fixture(scope="module", loop_scope="session") on'
        " fixture 'mod'; or @pytest.mark.asyncio(loop_scope=\"module\") on the test",
    ),
    "test_function_fixture_given_a_wider_loop": (
        """
        @pytest_asyncio.fixture(loop_scope="module")
        async def func():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="function")
        async def test_it(func):
            assert func is asyncio.get_running_loop()
        """,
        "The test runs on the function loop but uses async fixtures on other loops: 'func' on"
        " the module loop. Objects bound to one loop (connections, locks, tasks) fail on"
        " another. Fix: @pytest_asyncio.fixture(loop_scope=\"function\") on fixture 'func'; or"
        ' @pytest.mark.asyncio(loop_scope="module") on the test',
    ),
}

_CHANGE = re.compile(r"(@[\w.]+\([^)]*\)) on (?:the test|fixture '(\w+)')")


def _apply(source: str, fix: str) -> str:
    """``source`` with each change of one suggested ``fix``: the decorator right above the
    test's (or the named fixture's) ``async def`` replaced by the suggested one."""
    lines = source.splitlines()
    changes = _CHANGE.findall(fix)
    assert len(changes) == fix.count(" on "), fix  # every change of the fix is understood
    for decorator, fixture in changes:
        target = f"async def {fixture or 'test_it'}("
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(target))
        lines[index - 1] = decorator
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("shape", MIXED_SHAPES)
def test_each_suggested_mixed_loop_fix_ends_the_advisory(
    pytester: pytest.Pytester, shape: str
) -> None:
    """Every fix the advisory offers is one awaitest accepts and, applied as written, puts the
    test and its fixtures on one loop: no advisory, the test passes."""
    body, advice = MIXED_SHAPES[shape]
    source = "import asyncio\nimport pytest\nimport pytest_asyncio\n" + textwrap.dedent(body)
    pytester.makeini(STRICT_WARNINGS)
    pytester.makepyfile(test_shape=source)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)  # the test sees its fixtures on other loops
    result.stdout.fnmatch_lines(["*= awaitest advisories =*", f"test_shape.py::test_it: {advice}"])
    fixes = advice.split("Fix: ", 1)[1].split("; or ")
    for fix in fixes:
        pytester.makepyfile(test_shape=_apply(source, fix))
        fixed = pytester.runpytest("-p", "no:randomly")
        fixed.assert_outcomes(passed=1)
        fixed.stdout.no_fnmatch_line("*awaitest advisories*")
