"""``@pytest.mark.awaitest(...)``: each check's setting for one test, class or module."""

from __future__ import annotations

import textwrap

import pytest

#: Per check: the marker keyword and the value that turns it off, helpers, the test's body.
TRIPS: dict[str, tuple[str, str | int, str, str]] = {
    "unawaited": (
        "unawaited",
        "ignore",
        "async def job():\n    pass\n",
        "job()\n",
    ),
    "task_leaks": (
        "task_leaks",
        "ignore",
        "async def forever():\n    await asyncio.sleep(3600)\n",
        "asyncio.create_task(forever())\nawait asyncio.sleep(0)\n",
    ),
    "loop_errors": (
        "loop_errors",
        "ignore",
        'def callback():\n    raise KeyError("callback")\n',
        "asyncio.get_running_loop().call_soon(callback)\nawait asyncio.sleep(0.01)\n",
    ),
    "blocking_threshold": ("blocking_threshold", 0, "", "time.sleep(0.4)\n"),
    "timeout": ("timeout", 0, "", "await asyncio.sleep(0.6)\n"),
}

INI = {
    "unawaited": "asyncio_unawaited = error",
    "task_leaks": "asyncio_task_leaks = error",
    "loop_errors": "asyncio_loop_errors = error",
    "blocking_threshold": "asyncio_blocking_threshold = 0.1",
    "timeout": "asyncio_timeout = 0.2",
}

HEADER = "import asyncio\nimport time\n\nimport pytest\n\n"


def _write(pytester: pytest.Pytester, check: str, where: str, marker: str) -> None:
    """The check's test, with ``marker`` on the function, on its class, or in pytestmark."""
    _, _, helpers, body = TRIPS[check]
    test = "@pytest.mark.asyncio\nasync def test_it({}):\n" + textwrap.indent(body, "    ")
    source = HEADER + helpers + "\n\n"
    if where == "function":
        source += f"{marker}\n" + test.format("")
    elif where == "class":
        source += f"{marker}\nclass TestIt:\n" + textwrap.indent(test.format("self"), "    ")
    else:
        source = f"{source}pytestmark = {marker[1:] or '[]'}\n\n" + test.format("")
    pytester.makepyfile(test_override=source)
    pytester.makeini(f"[pytest]\nasyncio_mode = strict\n{INI[check]}\n")


@pytest.mark.parametrize("where", ["function", "class", "module"])
@pytest.mark.parametrize("check", list(TRIPS))
def test_the_marker_turns_a_check_off_for_a_test_a_class_or_a_module(
    pytester: pytest.Pytester, check: str, where: str
) -> None:
    key, value, _, _ = TRIPS[check]
    shown = f'"{value}"' if isinstance(value, str) else value
    marker = f"@pytest.mark.awaitest({key}={shown})"
    _write(pytester, check, where, "")
    tripped = pytester.runpytest("-W", "ignore::RuntimeWarning")
    assert tripped.ret == pytest.ExitCode.TESTS_FAILED
    _write(pytester, check, where, marker)
    pytester.runpytest("-W", "ignore::RuntimeWarning").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("check", "line"),
    [
        (
            "unawaited",
            "On purpose? Expect it with pytest.warns(RuntimeWarning), or mark the test: "
            '@pytest.mark.awaitest(unawaited="ignore")',
        ),
        (
            "task_leaks",
            'Meant to outlive the test? Mark the test: @pytest.mark.awaitest(task_leaks="ignore")',
        ),
        ("loop_errors", 'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")'),
        (
            "blocking_threshold",
            "Blocking on purpose? Mark the test: @pytest.mark.awaitest(blocking_threshold=0)",
        ),
        ("timeout", "Needs longer? Mark the test: @pytest.mark.awaitest(timeout=0.4)"),
    ],
)
def test_every_checks_failure_gives_its_override(
    pytester: pytest.Pytester, check: str, line: str
) -> None:
    _write(pytester, check, "function", "")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([line])


def test_the_closest_marker_wins_for_each_keyword(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_closest="""
        import asyncio

        import pytest

        pytestmark = pytest.mark.awaitest(loop_errors="ignore", task_leaks="ignore")


        async def job():
            pass


        def callback():
            raise KeyError("callback")


        @pytest.mark.awaitest(loop_errors="warn")
        class TestClass:
            @pytest.mark.asyncio
            async def test_warns(self):
                asyncio.get_running_loop().call_soon(callback)
                await asyncio.sleep(0.01)

            @pytest.mark.asyncio
            @pytest.mark.awaitest(loop_errors="error")
            async def test_fails(self):
                asyncio.get_running_loop().call_soon(callback)
                await asyncio.sleep(0.01)


        @pytest.mark.asyncio
        async def test_module_setting():
            asyncio.get_running_loop().call_soon(callback)
            asyncio.create_task(asyncio.sleep(3600))
            await asyncio.sleep(0.01)
        """
    )
    pytester.makeini("[pytest]\nasyncio_task_leaks = error\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ TestClass.test_fails _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            "*= awaitest advisories =*",
            "test_closest.py::TestClass::test_warns: an exception reached the event loop's "
            "exception handler during the test (asyncio_loop_errors = warn):",
        ]
    )


def test_a_sync_test_with_async_fixtures_takes_the_marker_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sync="""
        import asyncio

        import pytest
        import pytest_asyncio


        async def job():
            pass


        @pytest_asyncio.fixture
        async def resource():
            job()
            yield 1


        @pytest.mark.awaitest(unawaited="ignore")
        def test_sync(resource):
            assert resource == 1
        """
    )
    pytester.runpytest("-W", "ignore::RuntimeWarning").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        (
            '@pytest.mark.awaitest("ignore")',
            "mark.awaitest accepts only keyword arguments, but got positional argument 'ignore'; "
            "use @pytest.mark.awaitest(unawaited=..., task_leaks=..., loop_errors=... ('error', "
            "'warn' or 'ignore'), blocking_threshold=..., timeout=... (seconds, 0 = off), "
            "pending_on_failure=... (True or False), concurrent=... (True or False))",
        ),
        (
            '@pytest.mark.awaitest(loop_error="ignore")',
            "mark.awaitest accepts only keyword arguments 'unawaited', 'task_leaks', "
            "'loop_errors', 'blocking_threshold', 'timeout', 'pending_on_failure' or "
            "'concurrent', but got "
            "'loop_error'; use *",
        ),
        (
            '@pytest.mark.awaitest(loop_errors="off")',
            "mark.awaitest 'loop_errors' must be 'error', 'warn' or 'ignore', but got 'off'",
        ),
        (
            '@pytest.mark.awaitest(timeout="5")',
            "mark.awaitest 'timeout' must be a number of seconds >= 0 (0 turns it off), "
            "but got '5'",
        ),
        (
            '@pytest.mark.awaitest(pending_on_failure="no")',
            "mark.awaitest 'pending_on_failure' must be True or False, but got 'no'",
        ),
        (
            '@pytest.mark.asyncio(loop_errors="ignore")',
            "mark.asyncio has no keyword 'loop_errors': the checks' settings go on awaitest's "
            "own marker, which pytest-asyncio leaves alone: "
            "@pytest.mark.awaitest(loop_errors=...)",
        ),
    ],
)
def test_a_bad_marker_fails_its_test_with_the_fix(
    pytester: pytest.Pytester, marker: str, problem: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.asyncio
        {marker}
        async def test_marked():
            pass

        @pytest.mark.asyncio
        async def test_other():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"test_bad.py::test_marked: {problem}"])


def test_the_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_strict="""
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.awaitest(task_leaks="warn")
        async def test_marked():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.awaitest(unawaited=None, task_leaks=None, loop_errors=None, "
            "blocking_threshold=None, timeout=None, pending_on_failure=None, concurrent=None): "
            "this test's own settings of awaitest's checks, and whether it may run beside other "
            "tests"
        ]
    )
