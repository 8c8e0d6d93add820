"""What tests running beside each other print, log and warn stays with the test that did it:
its own ``Captured ... call`` sections under ``-rA``, its own entries in the warnings summary,
and ``filterwarnings = error`` failing the test that warned, exactly as when run one by one."""

from __future__ import annotations

import re
from typing import Final

import pytest
from _helpers import ini

#: Two tests that take turns, three times: each waits for its turn, says something (``say``)
#: and hands the turn to the other, so their output really interleaves. Run one at a time, a
#: test waits 0.2 s for a turn that doesn't come, and then goes on.
TURNS: Final = """
import asyncio
import logging
import sys
import warnings

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)
log = logging.getLogger("turns")
turn = ["a"]


def shared_warning():
    warnings.warn("the same from both", UserWarning)


async def take_turns(me, other):
    for n in range(3):
        for _ in range(200):  # in flight beside this one, the other test takes its turn at once
            if turn[0] == me:
                break
            await asyncio.sleep(0.001)
        {say}
        turn[0] = other


async def test_a():
    await take_turns("a", "b")


async def test_b():
    await take_turns("b", "a")
"""

#: how awaitest's terminal summary line about concurrency starts
RAN: Final = "concurrency: "
_TEST: Final = re.compile(r"^_+ (\S+) _+$")
_SECTION: Final = re.compile(r"^-+ (Captured \w+ \w+) -+$")


def sections(result: pytest.RunResult) -> dict[str, dict[str, list[str]]]:
    """The ``-rA`` report: test name -> section title (``Captured stdout call``) -> its lines."""
    found: dict[str, dict[str, list[str]]] = {}
    lines: list[str] | None = None
    test: dict[str, list[str]] = {}
    for line in result.stdout.lines:
        if line.startswith(RAN):  # the terminal summary's, right after the last section
            break
        if match := _TEST.match(line):
            test = found.setdefault(match[1], {})
            lines = None
        elif match := _SECTION.match(line):
            lines = test.setdefault(match[1], [])
        elif line.startswith("="):
            lines = None
        elif lines is not None:
            lines.append(line)
    return found


#: two tests in flight at most: the tests below opt in with the marker
CONCURRENCY: Final = ("-p", "no:randomly", "--asyncio-concurrency", "2")
#: the same run, one test at a time
SERIAL: Final = ("-p", "no:randomly", "--asyncio-concurrency", "0")


def run_turns(
    pytester: pytest.Pytester, say: str, *args: str, how: tuple[str, ...] = CONCURRENCY
) -> pytest.RunResult:
    pytester.makepyfile(test_turns=TURNS.format(say=say))
    result = pytester.runpytest("-rA", *how, *args)
    if how == CONCURRENCY:
        result.stdout.fnmatch_lines(
            [f"{RAN}2 tests ran concurrently (at most 2 at once), 0 ran alone"]
        )
    return result


def warnings_summary(result: pytest.RunResult) -> list[str]:
    return result.stdout.str().partition("warnings summary")[2].partition("-- Docs")[0].split("\n")


def lines(me: str, text: str) -> list[str]:
    """What test ``me`` ("a" or "b") said, one line per turn."""
    return [text.format(me=me, n=n) for n in range(3)]


#: the tests of TURNS: the name -rA shows, and what each calls itself
NAMES: Final = {"test_a": "a", "test_b": "b"}


@pytest.fixture(autouse=True)
def _auto(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")


def test_interleaved_prints_each_stay_in_their_own_tests_call_section(
    pytester: pytest.Pytester,
) -> None:
    result = run_turns(pytester, 'print(f"{me} says {n}"); sys.stderr.write(f"{me} errs {n}\\n")')
    result.assert_outcomes(passed=2)
    assert sections(result) == {
        name: {
            "Captured stdout call": lines(me, "{me} says {n}"),
            "Captured stderr call": lines(me, "{me} errs {n}"),
        }
        for name, me in NAMES.items()
    }


def test_interleaved_prints_go_to_the_terminal_under_dash_s(pytester: pytest.Pytester) -> None:
    result = run_turns(pytester, 'print(f"{me} says {n}")', "-s")
    result.assert_outcomes(passed=2)
    # As they were said: taking turns, each line as soon as it was printed.
    said = re.findall(r"[ab] says \d", result.stdout.str())
    assert said == ["a says 0", "b says 0", "a says 1", "b says 1", "a says 2", "b says 2"]


def test_interleaved_log_records_each_stay_in_their_own_tests_log_section(
    pytester: pytest.Pytester,
) -> None:
    # pytest's own formatter and level: a format of the ini, and INFO records kept.
    ini(
        pytester,
        asyncio_mode="auto",
        log_level="INFO",
        log_format="%(levelname)s %(name)s: %(message)s",
    )
    say = 'log.info("%s logs %d", me, n); log.debug("not kept")'
    result = run_turns(pytester, say, "--log-file=run.log")
    result.assert_outcomes(passed=2)
    assert sections(result) == {
        name: {"Captured log call": lines(me, "INFO turns: {me} logs {n}")}
        for name, me in NAMES.items()
    }
    # The log file still gets every record, in the order they were logged: taking turns.
    logged = (pytester.path / "run.log").read_text().splitlines()
    assert logged == [f"INFO turns: {me} logs {n}" for n in range(3) for me in "ab"]


def test_interleaved_warnings_are_each_reported_for_their_own_test(
    pytester: pytest.Pytester,
) -> None:
    ini(pytester, asyncio_mode="auto", filterwarnings="default")  # not this suite's error
    say = 'warnings.warn(f"{me} warns {n}", UserWarning); shared_warning()'
    result = run_turns(pytester, say)
    result.assert_outcomes(passed=2, warnings=8)
    summary = warnings_summary(result)
    # Grouped by message in the order they were reported, as pytest groups a serial run's;
    # the shared one names both tests (serially each test has a warning registry of its own).
    assert [line for line in summary if line and not line.startswith(" ")] == [
        "test_turns.py::test_a",  # a warns 0
        "test_turns.py::test_a",  # the shared one
        "test_turns.py::test_b",
        "test_turns.py::test_a",  # a warns 1
        "test_turns.py::test_a",
        "test_turns.py::test_b",  # b warns 0
        "test_turns.py::test_b",
        "test_turns.py::test_b",
    ]
    assert re.findall(r"\.py:\d+: (UserWarning: .*)", "\n".join(summary)) == [
        "UserWarning: a warns 0",
        "UserWarning: the same from both",
        "UserWarning: a warns 1",
        "UserWarning: a warns 2",
        "UserWarning: b warns 0",
        "UserWarning: b warns 1",
        "UserWarning: b warns 2",
    ]
    assert summary == warnings_summary(run_turns(pytester, say, how=SERIAL))


#: Two tests in flight together, one warning after its await, then one that runs alone
#: (it has filterwarnings marks of its own) and warns too: the batch is finished in its
#: protocol, but the filters the two ran under are the run's, not its marks.
WARN_THEN_ALONE: Final = """
import asyncio
import warnings

import pytest


@pytest.mark.awaitest(concurrent=True)
async def test_warns():
    await asyncio.sleep(0.05)
    warnings.warn("too late", UserWarning)


@pytest.mark.awaitest(concurrent=True)
async def test_quiet():
    await asyncio.sleep(0.1)


@pytest.mark.filterwarnings("{alone}")
async def test_alone():
    warnings.warn("the one alone", UserWarning)
"""


@pytest.mark.serial_only(
    "asserts the count line of asyncio_concurrent_tests = marked: with all, its unmarked test "
    "counts as ran alone"
)
@pytest.mark.parametrize(
    ("run", "alone", "verdicts", "failure"),
    [
        # The run's error filter fails the test that warned, not the one beside it; the mark
        # of the test after them filters only its own warning.
        (
            "error",
            "ignore::UserWarning",
            "FAILED PASSED PASSED",
            "test_warns - UserWarning: too late",
        ),
        # The mark of the test after them errs only for its own warning.
        ("default", "error", "PASSED PASSED FAILED", "test_alone - UserWarning: the one alone"),
    ],
)
def test_filterwarnings_error_fails_the_test_that_warned_and_no_other(
    pytester: pytest.Pytester, run: str, alone: str, verdicts: str, failure: str
) -> None:
    ini(pytester, asyncio_mode="auto", filterwarnings=run)
    pytester.makepyfile(test_errors=WARN_THEN_ALONE.format(alone=alone))
    result = pytester.runpytest("-v", *CONCURRENCY)
    result.assert_outcomes(passed=2, failed=1, warnings=0 if run == "error" else 1)
    result.stdout.fnmatch_lines([f"{RAN}2 tests ran concurrently (at most 2 at once), 0 ran alone"])
    names = ("test_warns", "test_quiet", "test_alone")
    result.stdout.fnmatch_lines(
        [
            *(
                f"test_errors.py::{name} {v}*"
                for name, v in zip(names, verdicts.split(), strict=True)
            ),
            f"FAILED test_errors.py::{failure}",
        ]
    )
    if run == "default":
        result.stdout.fnmatch_lines(
            ["test_errors.py::test_warns", "  *test_errors.py:10: UserWarning: too late"]
        )


def test_a_fixtures_output_stays_in_its_own_setup_and_teardown_sections(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_fixture_output="""
        import asyncio

        import pytest

        pytestmark = pytest.mark.awaitest(concurrent=True)


        @pytest.fixture
        async def resource(request):
            name = request.node.name
            print(f"set up for {name}")
            await asyncio.sleep(0.02)  # the other test's call runs meanwhile
            print(f"ready for {name}")
            yield name
            print(f"torn down for {name}")


        async def test_a(resource):
            for n in range(3):
                print(f"{resource} calls {n}")
                await asyncio.sleep(0.01)


        async def test_b(resource):
            for n in range(3):
                print(f"{resource} calls {n}")
                await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest("-rA", *CONCURRENCY)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"{RAN}2 tests ran concurrently (at most 2 at once), 0 ran alone"])
    assert sections(result) == {
        name: {
            "Captured stdout setup": [f"set up for {name}", f"ready for {name}"],
            "Captured stdout call": [f"{name} calls {n}" for n in range(3)],
            "Captured stdout teardown": [f"torn down for {name}"],
        }
        for name in ("test_a", "test_b")
    }


def test_a_warning_of_a_tests_teardown_is_reported_for_that_test(
    pytester: pytest.Pytester,
) -> None:
    # test_a is torn down while test_b's protocol runs: the warning is still test_a's.
    ini(pytester, asyncio_mode="auto", filterwarnings="default")  # not this suite's error
    pytester.makepyfile(
        test_teardown_warning="""
        import asyncio
        import warnings

        import pytest

        pytestmark = pytest.mark.awaitest(concurrent=True)


        @pytest.fixture
        def resource(request):
            yield
            warnings.warn(f"{request.node.name} torn down", UserWarning)


        async def test_a(resource):
            await asyncio.sleep(0.01)


        async def test_b(resource):
            await asyncio.sleep(0.02)
        """
    )
    result = pytester.runpytest(*CONCURRENCY)
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines([f"{RAN}2 tests ran concurrently (at most 2 at once), 0 ran alone"])
    summary = warnings_summary(result)
    assert [line for line in summary if line and not line.startswith(" ")] == [
        "test_teardown_warning.py::test_a",
        "test_teardown_warning.py::test_b",
    ]
    assert re.findall(r"\.py:\d+: (UserWarning: .*)", "\n".join(summary)) == [
        "UserWarning: test_a torn down",
        "UserWarning: test_b torn down",
    ]
