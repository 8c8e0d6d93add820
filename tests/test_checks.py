"""Missing awaits, leaked tasks, loop errors, blocking calls and Ctrl-C, on the test that did it."""

from __future__ import annotations

import pytest
from _helpers import ini

LOOP_SCOPES = ["function", "module", "session"]


# -- missing await -------------------------------------------------------------------------

FORGOT = """
import asyncio
import pytest
import pytest_asyncio

async def save(record):
    await asyncio.sleep(0)

@pytest_asyncio.fixture
async def fixture_forgets():
    {in_setup}
    yield
    {in_teardown}

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_forgot(fixture_forgets):
    {in_test}
"""


@pytest.mark.parametrize("scope", LOOP_SCOPES)
@pytest.mark.parametrize(
    ("where", "line", "outcome", "header"),
    [
        ("in_test", 16, {"failed": 1}, "*_ test_forgot _*"),
        ("in_setup", 10, {"errors": 1}, "*ERROR at setup of test_forgot*"),
        ("in_teardown", 12, {"passed": 1, "errors": 1}, "*ERROR at teardown of test_forgot*"),
    ],
)
def test_unawaited_coroutine_fails_the_test_where_it_was_created(
    pytester: pytest.Pytester,
    *,
    mode: str,
    scope: str,
    where: str,
    line: int,
    outcome: dict[str, int],
    header: str,
) -> None:
    steps = dict.fromkeys(("in_setup", "in_teardown", "in_test"), "pass")
    steps[where] = "save('note')"
    pytester.makepyfile(test_forgot=FORGOT.format(scope=scope, **steps))
    result = pytester.runpytest()
    result.assert_outcomes(**outcome)
    function = "test_forgot" if where == "in_test" else "fixture_forgets"
    result.stdout.fnmatch_lines(
        [
            header,
            f"coroutine save() was never awaited; dropped at test_forgot.py:{line} "
            f"(in {function}), usually the line that called it.",
            "Add 'await' before the call, or hand it to asyncio.create_task() and await the "
            "task (asyncio_unawaited = error).",
        ]
    )


def test_unawaited_is_a_warning_or_ignored_as_configured(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_forgot="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_forgot():
            asyncio.sleep(1)
        """
    )
    ini(pytester, asyncio_mode=mode, asyncio_unawaited="warn")
    result = pytester.runpytest("-W", "error")  # an advisory, not a warning
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_forgot.py::test_forgot: coroutine sleep() was never awaited; dropped at "
            "test_forgot.py:6 (in test_forgot), usually the line that called it.",
        ]
    )
    ini(pytester, asyncio_mode=mode, asyncio_unawaited="ignore")
    result = pytester.runpytest("-W", "ignore::RuntimeWarning")
    result.assert_outcomes(passed=1)


def test_unawaited_note_is_added_when_the_test_fails_anyway(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_forgot="""
        import asyncio
        import pytest

        events = []

        async def record(event):
            events.append(event)

        @pytest.mark.asyncio
        async def test_forgot():
            record("saved")
            assert events == ["saved"]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert [] == ['saved']",
            "*coroutine record() was never awaited; dropped at test_forgot.py:11 (in test_forgot)*",
        ]
    )


# -- leaked tasks --------------------------------------------------------------------------

# -- sync tests that use async fixtures --------------------------------------------------------

SYNC_USER = """
import asyncio
import pytest
import pytest_asyncio

async def save(record):
    await asyncio.sleep(0)

@pytest_asyncio.fixture
async def connection():
    {in_setup}
    yield "connection"
    {in_teardown}

def test_sync(connection):
    {in_test}
"""


@pytest.mark.parametrize(
    ("where", "code", "outcome", "lines"),
    [
        (
            "in_setup",
            "save('note')",
            {"errors": 1},
            [
                "*ERROR at setup of test_sync*",
                "coroutine save() was never awaited; dropped at test_sync.py:10 (in connection), "
                "usually the line that called it.",
            ],
        ),
        (
            "in_teardown",
            "save('note')",
            {"passed": 1, "errors": 1},
            [
                "*ERROR at teardown of test_sync*",
                "coroutine save() was never awaited; dropped at test_sync.py:12 (in connection), "
                "usually the line that called it.",
            ],
        ),
        (
            "in_setup",
            "asyncio.create_task(asyncio.sleep(60))",
            {"passed": 1},
            [
                "*= awaitest advisories =*",
                "test_sync.py::test_sync: test_sync left 1 task pending after its "
                "teardown; awaitest cancelled it (asyncio_task_leaks = warn):",
                "  Task 'Task-*' running sleep(), created at test_sync.py:10 (in connection), "
                "waiting at *",
            ],
        ),
        (
            "in_setup",
            "await asyncio.Event().wait()",
            {"errors": 1},
            [
                "*ERROR at setup of test_sync*",
                "timed out after 0.5 s (asyncio_timeout = 0.5); pending tasks at that moment:",
                "Task 'Task-*' async fixture connection():",
                '  File "*test_sync.py", line 10, in connection',
            ],
        ),
        (
            "in_teardown",
            "await asyncio.Event().wait()",
            {"passed": 1, "errors": 1},
            [
                "*ERROR at teardown of test_sync*",
                "timed out after 0.5 s (asyncio_timeout = 0.5); pending tasks at that moment:",
            ],
        ),
        (
            # the call of a sync test is pytest's: what it drops is reported at its teardown
            "in_test",
            "save('note')",
            {"passed": 1, "errors": 1},
            [
                "*ERROR at teardown of test_sync*",
                "coroutine save() was never awaited; dropped at test_sync.py:15 (in test_sync), "
                "usually the line that called it.",
            ],
        ),
    ],
    ids=["unawaited-setup", "unawaited-teardown", "leak", "hang-setup", "hang-teardown", "body"],
)
def test_sync_test_is_watched_from_its_first_async_fixture(
    pytester: pytest.Pytester,
    *,
    mode: str,
    where: str,
    code: str,
    outcome: dict[str, int],
    lines: list[str],
) -> None:
    steps = dict.fromkeys(("in_setup", "in_teardown", "in_test"), "pass")
    steps[where] = code
    pytester.makepyfile(test_sync=SYNC_USER.format(**steps))
    ini(pytester, asyncio_mode=mode, asyncio_timeout="0.5")
    result = pytester.runpytest()
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(lines)


def test_sync_test_body_does_not_count_against_the_deadline(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_sync="""
        import asyncio
        import time
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def connection():
            yield "connection"
            await asyncio.sleep(0.3)

        def test_slow(connection):
            time.sleep(0.6)
        """
    )
    ini(pytester, asyncio_mode=mode, asyncio_timeout="0.5")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_sync_test_without_async_fixtures_is_not_watched(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_sync="""
        async def save(record):
            pass

        def test_plain():
            save("note")
        """
    )
    result = pytester.runpytest("-W", "default::RuntimeWarning")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*RuntimeWarning: coroutine 'save' was never awaited"])
    result.stdout.no_fnmatch_line("*(asyncio_unawaited = *")  # no finding of awaitest's


LEAK = """
import asyncio
import pytest

async def poll_forever():
    while True:
        await asyncio.sleep(1)

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_leaks():
    asyncio.create_task(poll_forever())
    await asyncio.sleep(0)

# its loop's tasks, all its own, are what it checks: beside others, all_tasks() sees theirs
@pytest.mark.awaitest(concurrent=False)
@pytest.mark.asyncio(loop_scope="{scope}")
async def test_clean():
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
"""


@pytest.mark.parametrize("scope", LOOP_SCOPES)
def test_leaked_task_is_cancelled_and_reported_on_its_test(
    pytester: pytest.Pytester, mode: str, scope: str
) -> None:
    pytester.makepyfile(test_leak=LEAK.format(scope=scope))
    result = pytester.runpytest("-W", "error", "-rP")  # an advisory, not a warning
    result.assert_outcomes(passed=2)
    leak = [
        "  Task 'Task-*' running poll_forever(), created at test_leak.py:10 (in test_leaks),"
        " waiting at test_leak.py:6 (in poll_forever)",
        "Await each task before the test ends, or cancel and await it in a fixture's teardown.",
    ]
    result.stdout.fnmatch_lines(
        [
            "*- Captured awaitest teardown -*",  # a section of the test's report (-rP shows it)
            "test_leaks left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = warn):",
            *leak,
            "*= awaitest advisories =*",  # and once in the summary
            "test_leak.py::test_leaks: test_leaks left 1 task pending after its teardown; "
            "awaitest cancelled it (asyncio_task_leaks = warn):",
            *leak,
            "*= 2 passed in *",
        ]
    )


def test_a_leaked_task_that_raises_while_cancelled_is_part_of_its_report(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Not a second, "never retrieved" loop error when the task is freed: one advisory."""
    pytester.makepyfile(
        test_leak="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_leaks():
            async def worker():
                try:
                    while True:
                        await asyncio.sleep(0)
                finally:
                    raise RuntimeError("cleanup failed")

            asyncio.create_task(worker())
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_leak.py::test_leaks: test_leaks left 1 task pending after its teardown; "
            "awaitest cancelled it (asyncio_task_leaks = warn):",
            "  Task 'Task-*' running test_leaks.<locals>.worker(), created at test_leak.py:13 "
            "(in test_leaks), waiting at test_leak.py:9 (in worker)",
            "    and it raised RuntimeError('cleanup failed') while being cancelled, at "
            "test_leak.py:11 (in worker)",
            "Await each task *",
        ]
    )
    result.stdout.no_fnmatch_line("*never retrieved*")


def test_leaked_task_fails_the_test_with_error(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_leak=LEAK.format(scope="function"))
    ini(pytester, asyncio_mode=mode, asyncio_task_leaks="error")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "test_leaks left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = error):",
        ]
    )


def test_tasks_stopped_by_fixtures_or_owned_by_wider_fixtures_are_not_leaks(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        class Worker:
            def start(self):
                self.task = asyncio.create_task(asyncio.sleep(100))

            async def stop(self):
                self.task.cancel()

        @pytest_asyncio.fixture
        async def worker():
            worker = Worker()
            yield worker
            await worker.stop()

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def heartbeat():
            task = asyncio.create_task(asyncio.sleep(100))
            yield
            task.cancel()

        @pytest.mark.asyncio
        async def test_started_through_fixture(worker):
            worker.start()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_background(heartbeat):
            pass
        """
    )
    ini(pytester, asyncio_mode=mode, asyncio_task_leaks="error")
    pytester.runpytest().assert_outcomes(passed=2)


# -- loop errors ---------------------------------------------------------------------------

LOOP_ERRORS = """
import asyncio
import pytest

async def boom():
    raise ValueError("lost")

def callback():
    raise KeyError("callback")

@pytest.mark.asyncio
async def test_task_died():
    asyncio.create_task(boom())
    await asyncio.sleep(0.01)

@pytest.mark.asyncio
async def test_callback_raised():
    asyncio.get_running_loop().call_soon(callback)
    await asyncio.sleep(0.01)
"""


def test_loop_errors_fail_the_test_with_the_traceback(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_loop=LOOP_ERRORS)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_task_died _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            "Task exception was never retrieved",
            "*",
            "Traceback (most recent call last):",
            '  File "*test_loop.py", line 5, in boom',
            '    raise ValueError("lost")',
            "ValueError: lost",
            "*_ test_callback_raised _*",
            "an exception reached the event loop's exception handler during the test*",
            "Exception in callback callback() at *test_loop.py:7",
            "*",
            '  File "*test_loop.py", line 8, in callback',
            "KeyError: 'callback'",
        ]
    )


@pytest.mark.parametrize("severity", ["warn", "ignore"])
def test_loop_errors_can_warn_or_be_ignored(
    pytester: pytest.Pytester, mode: str, severity: str
) -> None:
    pytester.makepyfile(test_loop=LOOP_ERRORS)
    ini(pytester, asyncio_mode=mode, asyncio_loop_errors=severity)
    result = pytester.runpytest("-W", "error")  # warn is an advisory, not a warning
    result.assert_outcomes(passed=2)
    advised = [
        "test_loop.py::test_task_died: an exception reached the event loop's exception handler "
        "during the test (asyncio_loop_errors = warn):",
        "Task exception was never retrieved",
        "*",
        "test_loop.py::test_callback_raised: an exception reached the event loop's exception "
        "handler during the test (asyncio_loop_errors = warn):",
    ]
    if severity == "warn":
        result.stdout.fnmatch_lines(["*= awaitest advisories =*", *advised])
    else:
        result.stdout.no_fnmatch_line("*awaitest advisories*")


def test_a_users_exception_handler_is_respected(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_own_handler():
            seen = []
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
            loop.call_soon(lambda: 1 / 0)
            await asyncio.sleep(0.01)
            assert len(seen) == 1
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


# -- blocking calls ------------------------------------------------------------------------

BLOCKING = """
import asyncio
import time
import pytest

def legacy_client_call():
    time.sleep(0.5)

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_blocks():
    await asyncio.sleep(0)
    legacy_client_call()
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("scope", LOOP_SCOPES)
def test_blocking_call_fails_with_its_line(
    pytester: pytest.Pytester, mode: str, scope: str
) -> None:
    pytester.makepyfile(test_blocking=BLOCKING.format(scope=scope))
    result = pytester.runpytest("--asyncio-blocking-threshold=0.1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_blocks held the event loop for at least * s without yielding "
            "(asyncio_blocking_threshold = 0.1 s); it was blocked in:",
            '  File "*test_blocking.py", line 11, in test_blocks',
            "    legacy_client_call()",
            '  File "*test_blocking.py", line 6, in legacy_client_call',
            "    time.sleep(0.5)",
            "Run blocking calls in a thread (await asyncio.to_thread(...)) or use an async "
            "library.",
        ]
    )


def test_blocking_check_is_off_by_default(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(test_blocking=BLOCKING.format(scope="function"))
    pytester.runpytest().assert_outcomes(passed=1)


# -- Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_cancels_the_test_runs_teardown_once_and_stops(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import os
        import signal
        import pytest
        import pytest_asyncio

        # A run started as a background job without job control inherits SIGINT ignored, and
        # Python then installs no KeyboardInterrupt handler: give it back, as a terminal has it.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        @pytest_asyncio.fixture
        async def resource():
            yield
            print("teardown ran")

        @pytest.mark.asyncio
        async def test_interrupted(resource):
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("test task cancelled")
                raise

        # alone, so it is not in flight yet: a test in flight has started when Ctrl-C comes
        @pytest.mark.awaitest(concurrent=False)
        @pytest.mark.asyncio
        async def test_never_runs():
            print("second test ran")
        """
    )
    result = pytester.runpytest_subprocess("-s", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.stdout.str()
    assert output.count("teardown ran") == 1
    assert "test task cancelled" in output
    assert "second test ran" not in output
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])


# -- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "depth", "hooked"),
    [
        ([], 0, True),
        (
            [
                "-o",
                "asyncio_unawaited=ignore",
                "-o",
                "asyncio_task_leaks=ignore",
                "-o",
                "asyncio_loop_errors=ignore",
            ],
            0,
            False,
        ),
    ],
    ids=["defaults", "all-off"],
)
def test_checks_that_are_off_install_nothing(
    pytester: pytest.Pytester, mode: str, args: list[str], depth: int, hooked: bool
) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import sys
        import threading
        import warnings
        import pytest

        @pytest.mark.asyncio
        async def test_inside():
            assert sys.get_coroutine_origin_tracking_depth() == {depth}
            hook = warnings._warn_unawaited_coroutine
            # awaitest._checks's hook, or its batch's when the test runs beside others
            assert getattr(hook, "__module__", "").startswith("awaitest._checks") is {hooked}
            assert [t.name for t in threading.enumerate() if t.name == "awaitest-watchdog"] == []
        """
    )
    pytester.runpytest(*args).assert_outcomes(passed=1)


def test_closing_a_dropped_async_generator_is_not_a_leak(
    pytester: pytest.Pytester, mode: str
) -> None:
    """asyncio closes an async generator the test dropped in a task of its own; that task is
    asyncio's cleanup, not something the test left running."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_takes_one():
            gen = numbers()
            assert await gen.__anext__() == 1
            del gen
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*awaitest advisories*")
