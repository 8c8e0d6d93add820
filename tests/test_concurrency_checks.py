"""awaitest's checks name the right test when tests run beside each other on one loop: a leaked
task, a loop error, a blocking call, a timeout are each the finding of the test that caused it,
and the test running beside it passes. Every pair below meets in the middle (``meet``), so
each test can only pass when the other really is in flight at the same time."""

from __future__ import annotations

from typing import Final

import pytest
from _helpers import ini

#: The two tests of each case meet: each says it is there, then waits until the other is too
#: (run one at a time, the first would wait in vain, and fail).
MEET: Final = """
import asyncio
import time

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)
here = set()


async def meet(me):
    here.add(me)
    for _ in range(1000):
        if len(here) == 2:
            return
        await asyncio.sleep(0.001)
    pytest.fail(f"{me} ran alone")

"""

#: two tests in flight at most
CONCURRENCY: Final = ("-p", "no:randomly", "--asyncio-concurrency", "2")


def line(tests: str, text: str) -> int:
    """The line of test_pair.py (MEET, then ``tests``) that holds ``text``."""
    source = (MEET + tests).lstrip("\n")  # as pytester writes it: from its first line
    return next(n for n, got in enumerate(source.splitlines(), 1) if text in got)


def run(pytester: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_pair=MEET + tests)
    result = pytester.runpytest(*CONCURRENCY, *args)
    result.stdout.fnmatch_lines(["concurrency: 2 tests ran concurrently (at most 2 at once)*"])
    return result


LEAKS: Final = """
async def test_leaks():
    await meet("leaks")
    asyncio.create_task(asyncio.sleep(3600), name="left-behind")
    await asyncio.sleep(0.05)


async def test_awaits_its_own():
    await meet("awaits")
    await asyncio.create_task(asyncio.sleep(0.01), name="awaited")
    await asyncio.sleep(0.1)  # still in flight after test_leaks has made its task
"""

HANGS: Final = """
@pytest.mark.awaitest(timeout=0.3)
async def test_hangs():
    await meet("hangs")
    await asyncio.Event().wait()


async def test_outlasts_it():
    await meet("outlasts")
    await asyncio.sleep(0.6)  # past the other's deadline
    print("still here")
"""

CALLBACK: Final = """
def fails():
    raise ValueError("from the callback")


async def test_schedules_it():
    await meet("schedules")
    asyncio.get_running_loop().call_soon(fails)
    await asyncio.sleep(0.05)


async def test_beside_it():
    await meet("beside")
    await asyncio.sleep(0.1)  # in flight while the callback runs
"""

BLOCKS: Final = """
async def test_blocks():
    await meet("blocks")
    time.sleep(0.4)


async def test_waits_beside_it():
    await meet("waits")
    await asyncio.sleep(0.6)  # in flight, waiting, while the loop is held
"""

FORGETS: Final = """
async def test_forgets():
    await meet("forgets")
    asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def test_awaits():
    await meet("awaits")
    await asyncio.sleep(0.1)  # in flight when the other drops its coroutine
"""


@pytest.fixture(autouse=True)
def _auto(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_task_leaks="error")


def test_a_task_leaked_by_one_of_two_concurrent_tests_is_that_tests_leak(
    pytester: pytest.Pytester,
) -> None:
    tests = LEAKS
    created = line(tests, "left-behind")
    result = run(
        pytester,
        tests,
        "-v",
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_pair.py::test_leaks PASSED*",
            "test_pair.py::test_leaks ERROR*",
            "test_pair.py::test_awaits_its_own PASSED*",
            "*_ ERROR at teardown of test_leaks _*",
            "test_leaks left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = error):",
            f"  Task 'left-behind' running sleep(), created at test_pair.py:{created} "
            "(in test_leaks), "
            "waiting at *asyncio*tasks.py:* (in sleep)",
            "Await each task before the test ends, or cancel and await it in a fixture's teardown.",
            'Meant to outlive the test? Mark the test: @pytest.mark.awaitest(task_leaks="ignore")',
            "=* short test summary info =*",
            "ERROR test_pair.py::test_leaks - Failed: test_leaks left 1 task pending after*",
        ]
    )
    assert "test_awaits_its_own left" not in result.stdout.str()


def test_a_timeout_cancels_one_of_two_concurrent_tests_and_the_other_passes(
    pytester: pytest.Pytester,
) -> None:
    tests = HANGS
    result = run(
        pytester,
        tests,
        "-rA",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_hangs _*",
            "timed out after 0.3 s (@pytest.mark.awaitest(timeout=0.3)); pending tasks at that "
            "moment:",
            "Task 'Task-*' running test_hangs():",
            f'  File "*test_pair.py", line {line(tests, "Event().wait()")}, in test_hangs',
            "    await asyncio.Event().wait()",
            "Needs longer? Mark the test: @pytest.mark.awaitest(timeout=0.6)",
            "*_ test_outlasts_it _*",
            "*- Captured stdout call -*",
            "still here",
            "=* short test summary info =*",
            "PASSED test_pair.py::test_outlasts_it",
            "FAILED test_pair.py::test_hangs - Failed: timed out after 0.3 s*",
        ]
    )


def test_a_loop_error_is_blamed_on_the_concurrent_test_whose_callback_raised(
    pytester: pytest.Pytester,
) -> None:
    tests = CALLBACK
    result = run(
        pytester,
        tests,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_schedules_it _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            f"Exception in callback fails() at *test_pair.py:{line(tests, 'def fails')}",
            f"handle: <Handle fails() at *test_pair.py:{line(tests, 'def fails')}>",
            "Traceback (most recent call last):",
            "*",
            f'  File "*test_pair.py", line {line(tests, "raise ValueError")}, in fails',
            '    raise ValueError("from the callback")',
            "ValueError: from the callback",
            "It comes from this project's code: raised at "
            f"test_pair.py:{line(tests, 'raise ValueError')} (in fails).",
            "Handle the error in the callback or protocol method that raises it.",
            'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
            "=* short test summary info =*",
            "FAILED test_pair.py::test_schedules_it - Failed: an exception reached the*",
        ]
    )


def test_a_blocking_call_is_blamed_on_the_concurrent_test_that_made_it(
    pytester: pytest.Pytester,
) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_blocking_threshold="0.1")
    tests = BLOCKS
    result = run(
        pytester,
        tests,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_blocks _*",
            "test_blocks held the event loop for at least 0.* s without yielding "
            "(asyncio_blocking_threshold = 0.1 s); it was blocked in:",
            f'  File "*test_pair.py", line {line(tests, "time.sleep(0.4)")}, in test_blocks',
            "    time.sleep(0.4)",
            "Run blocking calls in a thread (await asyncio.to_thread(...)) or use an async "
            "library.",
            "Blocking on purpose? Mark the test: @pytest.mark.awaitest(blocking_threshold=0)",
            "=* short test summary info =*",
            "FAILED test_pair.py::test_blocks - Failed: test_blocks held the event loop*",
        ]
    )


def test_a_missing_await_is_the_finding_of_the_concurrent_test_that_dropped_the_coroutine(
    pytester: pytest.Pytester,
) -> None:
    tests = FORGETS
    result = run(pytester, tests)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_forgets _*",
            "coroutine sleep() was never awaited; dropped at "
            f"test_pair.py:{line(tests, '    asyncio.sleep(0)')} (in test_forgets), usually the "
            "line that called it.",
            "Add 'await' before the call, or hand it to asyncio.create_task() and await the task "
            "(asyncio_unawaited = error).",
            "On purpose? Expect it with pytest.warns(RuntimeWarning), or mark the test: "
            '@pytest.mark.awaitest(unawaited="ignore")',
            "=* short test summary info =*",
            "FAILED test_pair.py::test_forgets - Failed: coroutine sleep() was never await*",
        ]
    )
    assert "warnings summary" not in result.stdout.str()  # the finding, not Python's warning


LOOP_STATE: Final = """
def tune(loop):  # in a helper: a test whose own code calls these setters runs alone
    loop.set_debug(True)
    loop.set_exception_handler(lambda loop, context: None)


async def test_changes_the_loop():
    await meet("changes")
    tune(asyncio.get_running_loop())


async def test_beside_it():
    await meet("beside")
    await asyncio.sleep(0.05)  # the other is done meanwhile, and the loop put back
    loop = asyncio.get_running_loop()
    assert not loop.get_debug()
    assert getattr(loop.get_exception_handler(), "__name__", None) != "<lambda>"
"""


def test_a_concurrent_test_that_changes_the_shared_loop_fails_and_the_loop_is_put_back(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, LOOP_STATE, "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_changes_the_loop _*",
            "test_changes_the_loop replaced the event loop's exception handler "
            "(loop.set_exception_handler) and debug mode (loop.set_debug), but it shares its "
            "loop with the tests that run beside it; awaitest put its own back when the test "
            "ended.",
            "Put it back before the test ends, or run the test alone: "
            "@pytest.mark.awaitest(concurrent=False)",
            "=* short test summary info =*",
            "PASSED test_pair.py::test_beside_it",
            "FAILED test_pair.py::test_changes_the_loop - Failed: test_changes_the_loop re*",
        ]
    )


DROPS_UNCHECKED = """
import asyncio
import sys
import warnings

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)

async def job():
    pass

@pytest.mark.awaitest(unawaited="ignore")
async def test_drops_it():
    job()
    await asyncio.sleep(0.01)

async def test_beside_it():
    hook = warnings._warn_unawaited_coroutine
    print("hook of", getattr(hook, "__module__", None), file=sys.stderr)
    await asyncio.sleep(0.01)
"""


@pytest.mark.parametrize(
    ("args", "hook"),
    [((), "awaitest._checks.batch"), (("-o", "asyncio_unawaited=ignore"), "warnings")],
)
def test_a_missing_await_not_checked_is_pythons_warning_from_the_dropping_line(
    pytester: pytest.Pytester, args: tuple[str, ...], hook: str
) -> None:
    """Beside a test the check is on for (the hook is the batch's), and in a run with the check
    off (nothing is installed): Python's own warning, at the test's line, as serially."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(test_drops=DROPS_UNCHECKED)
    dropped = DROPS_UNCHECKED.lstrip("\n").splitlines().index("    job()") + 1
    result = pytester.runpytest("-W", "default::RuntimeWarning", "-rP", *CONCURRENCY, *args)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines([f"hook of {hook}"])
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "test_drops.py::test_drops_it",
            f"  *test_drops.py:{dropped}: RuntimeWarning: coroutine 'job' was never awaited",
            "*= awaitest concurrency =*",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone",
        ]
    )


BLOCKS_IN_A_CALLBACK = """
import asyncio
import time

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)

def legacy_client_call():
    time.sleep(10)

@pytest.mark.asyncio(timeout=0.2)
async def test_blocks():
    asyncio.get_running_loop().call_soon(legacy_client_call)
    await asyncio.sleep(10)

async def test_beside_it():
    await asyncio.sleep(0.05)
"""


def test_a_callback_a_concurrent_test_scheduled_that_blocks_the_loop_is_interrupted(
    pytester: pytest.Pytester,
) -> None:
    """The callback runs in its test's context: the loop held by it is that test's, so the
    deadline's hard stage interrupts it there, as serially (not 10 s later)."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(test_blocked=BLOCKS_IN_A_CALLBACK)
    result = pytester.runpytest(*CONCURRENCY)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_blocks _*",
            "timed out after 0.2 s (@pytest.mark.asyncio(timeout=0.2)): the event loop was "
            "blocked, and was interrupted in:",
            '  File "*test_blocked.py", line 9, in legacy_client_call',
            "    time.sleep(10)",
            "*= awaitest concurrency =*",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone",
        ]
    )


LEAVES_A_GENERATOR_OPEN = """
import asyncio

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)
open_generators = []


async def stuck():
    try:
        yield 1
    except GeneratorExit:
        yield 2  # refuses to stop


async def test_leaves_it_open():
    agen = stuck()
    open_generators.append(agen)  # closed when the loop shuts down
    assert await agen.__anext__() == 1
    await asyncio.sleep(0)  # still in flight when test_last takes off


async def test_last():
    await asyncio.sleep(0)
"""


def test_what_fails_as_the_batch_loop_closes_is_the_teardown_error_of_its_last_test(
    pytester: pytest.Pytester,
) -> None:
    """The batch's loop is closed where a test's own loop is, at the end of a teardown: its
    last test's. An error of that moment (here a generator that refuses to close) is an error
    at that teardown, found by the one check still open on the loop."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(test_agen=LEAVES_A_GENERATOR_OPEN)
    result = pytester.runpytest(*CONCURRENCY)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_last*",
            "an exception reached the event loop's exception handler during the test*",
            "an error occurred during closing of asynchronous generator <async_generator "
            "object stuck at *>",
            "*= awaitest concurrency =*",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone",
        ]
    )
