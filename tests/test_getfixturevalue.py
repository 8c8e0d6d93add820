"""``await awaitest.getfixturevalue(request, name)``: fixtures requested by name from a running
async test or fixture, set up, cached and torn down as pytest does; and the errors of the ways
that can't work, each naming the test, the fixture and what to do."""

from __future__ import annotations

import importlib.util
import os

import pytest
from _helpers import ini

#: A traceback entry in one of our modules, wherever the package is installed.
OUR_FRAME = f"*{os.sep}awaitest{os.sep}*.py:*"
#: Entries of pytest's fixture machinery and pluggy's hook calls.
MACHINERY = [f"*{os.sep}_pytest{os.sep}*.py:*", f"*{os.sep}pluggy{os.sep}*.py:*"]
CHAINED = ["*During handling of the above exception*", "*The above exception was the direct*"]
# looptime (installed for its own tests) wraps every fixture setup and test call; its frames
# are its own, shown as they are beside pytest-asyncio, so these runs leave it out.
NOT_OURS = ("-p", "no:looptime_plugin")

FACTORIES = [
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"
        ),
    ),
]


@pytest.mark.parametrize("factory", FACTORIES)
def test_an_async_fixture_by_name_runs_on_the_tests_loop_in_a_task_of_its_own(
    pytester: pytest.Pytester, mode: str, factory: str
) -> None:
    ini(pytester, asyncio_mode=mode, asyncio_loop_factories=factory)
    pytester.makepyfile(
        """
        import asyncio
        import contextvars
        import pytest
        import pytest_asyncio
        import awaitest

        VAR = contextvars.ContextVar("VAR", default="unset")

        @pytest_asyncio.fixture
        async def resource():
            await asyncio.sleep(0)
            task = asyncio.current_task()
            VAR.set("set by resource")
            yield asyncio.get_running_loop(), task
            print("teardown in the setup task:", asyncio.current_task() is task)

        @pytest.mark.asyncio
        async def test_uses(request):
            loop, task = await awaitest.getfixturevalue(request, "resource")
            assert loop is asyncio.get_running_loop()
            assert task is not asyncio.current_task()
            assert VAR.get() == "set by resource"
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*teardown in the setup task: True*"])


def test_fixtures_by_name_are_cached_and_torn_down_in_reverse_with_the_tests_fixtures(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Set up as pytest would at setup: sync dependencies by pytest, async ones by awaitest;
    torn down at the test's teardown in reverse, after the test failed too."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest.fixture
        def static():
            print("static setup")
            yield
            print("static teardown")

        @pytest.fixture
        def sync_dependency():
            print("sync_dependency setup")
            yield "s"
            print("sync_dependency teardown")

        @pytest_asyncio.fixture
        async def inner(sync_dependency):
            print("inner setup")
            yield sync_dependency + "i"
            print("inner teardown")

        @pytest_asyncio.fixture
        async def outer(inner):
            await asyncio.sleep(0)
            print("outer setup")
            return {"value": inner + "o"}

        @pytest_asyncio.fixture
        async def last():
            print("last setup")
            yield
            print("last teardown")

        @pytest.mark.asyncio
        async def test_fails(static, request):
            first = await awaitest.getfixturevalue(request, "outer")
            assert await awaitest.getfixturevalue(request, "outer") is first
            assert request.getfixturevalue("outer") is first  # pytest's own cache
            assert first == {"value": "sio"}
            await awaitest.getfixturevalue(request, "last")
            print("test body ends")
            assert False
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*static setup",
            "sync_dependency setup",
            "inner setup",
            "outer setup",
            "last setup",
            "test body ends",
            "*last teardown",
            "inner teardown",
            "sync_dependency teardown",
            "static teardown",
        ],
        consecutive=True,
    )


def test_sync_fixtures_by_name_are_pytests_own_and_see_no_running_loop(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import awaitest

        @pytest.fixture
        def config(request, tmp_path):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                running = False  # as at setup: pytest's code runs with no loop running
            else:
                running = True
            request.addfinalizer(lambda: print("config finalized"))
            return {"path": tmp_path, "running": running}

        @pytest.mark.asyncio
        async def test_uses(request):
            config = await awaitest.getfixturevalue(request, "config")
            assert config == {"path": request.getfixturevalue("tmp_path"), "running": False}
            assert (await awaitest.getfixturevalue(request, "tmp_path")).is_dir()
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*config finalized*"])


@pytest.mark.parametrize("kind", ["coroutine", "generator"])
def test_an_async_fixture_may_ask_for_another_by_name(
    pytester: pytest.Pytester, mode: str, kind: str
) -> None:
    give = "yield" if kind == "generator" else "return"
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def connection():
            yield asyncio.get_running_loop()
            print("connection teardown")

        @pytest_asyncio.fixture
        async def repository(request):
            connection = await awaitest.getfixturevalue(request, "connection")
            request.addfinalizer(lambda: print("repository teardown"))
            {give} connection

        @pytest.mark.asyncio
        async def test_uses(repository):
            assert repository is asyncio.get_running_loop()
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*repository teardown", "connection teardown"], consecutive=True)


def test_tasks_the_test_starts_may_ask_too(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def resource():
            yield asyncio.get_running_loop()
            print("resource teardown")

        @pytest.mark.asyncio
        async def test_uses(request):
            loop = asyncio.get_running_loop()
            child = asyncio.create_task(awaitest.getfixturevalue(request, "resource"))
            both = asyncio.gather(
                awaitest.getfixturevalue(request, "resource"),
                awaitest.getfixturevalue(request, "tmp_path"),
            )
            assert await child is loop
            resource, tmp_path = await both
            assert resource is loop and tmp_path.is_dir()
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*resource teardown*"])


def test_a_fixture_being_set_up_by_name_asked_for_again_meanwhile_is_refused(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_twice="""
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        started = asyncio.Event()

        @pytest_asyncio.fixture
        async def slow():
            started.set()
            await asyncio.sleep(0.01)
            return 1

        @pytest.mark.asyncio
        async def test_uses(request):
            async def asks_meanwhile():
                await started.wait()
                await awaitest.getfixturevalue(request, "slow")

            other = asyncio.create_task(asks_meanwhile())
            assert await awaitest.getfixturevalue(request, "slow") == 1
            await other
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_twice.py::test_uses: awaitest.getfixturevalue(request, 'slow') can't set up"
            " fixture 'slow': it is being set up already, for an earlier awaitest.getfixturevalue"
            "(request, 'slow') that has not returned yet (awaited by another task, or by a"
            " fixture that 'slow' needs); await that call's value instead",
        ]
    )


WIDER = """
import asyncio
import pytest
import pytest_asyncio
import awaitest

@pytest_asyncio.fixture(scope="module")
async def pool():
    yield asyncio.get_running_loop()

@pytest_asyncio.fixture
async def connection(pool):
    return pool

@pytest.mark.asyncio
async def test_pool_by_name(request):
    await awaitest.getfixturevalue(request, "pool")

@pytest.mark.asyncio
async def test_connection_by_name(request):
    await awaitest.getfixturevalue(request, "connection")

@pytest.mark.asyncio
async def test_pool_as_an_argument(pool):
    assert pool is asyncio.get_running_loop()

@pytest.mark.asyncio(loop_scope="module")
async def test_on_the_module_loop(request):
    assert await awaitest.getfixturevalue(request, "pool") is asyncio.get_running_loop()
    assert await awaitest.getfixturevalue(request, "connection") is asyncio.get_running_loop()
"""


def test_a_fixture_on_a_wider_loop_than_the_tests_is_refused_with_the_fix(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Had the test requested it, the test would run on the fixture's loop; it runs already.
    The refusal is not cached: the tests that request the fixture as an argument get it."""
    pytester.makepyfile(test_wider=WIDER)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2, passed=2)
    fix = (
        "Request '{name}' as an argument of the test (awaitest then runs the test on the module"
        ' loop), or mark the test @pytest.mark.asyncio(loop_scope="module").'
    )
    result.stdout.fnmatch_lines(
        [
            "test_wider.py::test_pool_by_name: awaitest.getfixturevalue(request, 'pool') can't"
            " set up async fixture 'pool': it runs on the module loop, and the test runs on the"
            " function loop, where the value would be used. " + fix.format(name="pool"),
            "test_wider.py::test_connection_by_name: awaitest.getfixturevalue(request,"
            " 'connection') can't set up async fixture 'pool' (which 'connection' needs): it"
            " runs on the module loop, and the test runs on the function loop, where the value"
            " would be used. " + fix.format(name="connection"),
        ]
    )


def test_a_wider_fixture_by_name_from_a_fixture_on_its_loop(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture(scope="module")
        async def pool():
            yield asyncio.get_running_loop()

        @pytest_asyncio.fixture(scope="module")
        async def service(request):
            return await awaitest.getfixturevalue(request, "pool")

        @pytest.mark.asyncio(loop_scope="module")
        async def test_one(service):
            assert service is asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_two(request):
            assert await awaitest.getfixturevalue(request, "pool") is asyncio.get_running_loop()
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_parametrized_fixture_by_name_is_pytests_failure_at_the_users_line(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_param="""
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture(params=[1, 2])
        async def number(request):
            return request.param

        @pytest.mark.asyncio
        async def test_number(request):
            await awaitest.getfixturevalue(request, "number")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "The requested fixture has no parameter defined for test:",
            "    test_param.py::test_number",
            "",
            "Requested fixture 'number' defined in:",
            "test_param.py:*",  # pytest's own line: the decorator's (9.x) or the def's (8.4)
            "",
            "Requested here:",
            "test_param.py:11",
        ],
        consecutive=True,
    )


def test_an_unknown_fixture_is_pytests_lookup_error(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest
        import awaitest

        @pytest.mark.asyncio
        async def test_unknown(request):
            await awaitest.getfixturevalue(request, "nope")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '      await awaitest.getfixturevalue(request, "nope")',
            "E       fixture 'nope' not found",
            ">       available fixtures: *",
            ">       use 'pytest --fixtures [testpath]' for help on them.",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line(OUR_FRAME)


FAILING = """
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def coroutine_setup():
    raise ValueError("setup failed")

@pytest_asyncio.fixture
async def generator_setup():
    raise ValueError("setup failed")
    yield

@pytest_asyncio.fixture
async def generator_teardown():
    yield
    raise ValueError("teardown failed")

@pytest.fixture
def sync_setup():
    raise ValueError("setup failed")
"""

ASKS = """
import pytest
import awaitest

@pytest.mark.asyncio
async def test_one(request):
    await awaitest.getfixturevalue(request, "{fixture}")
"""


@pytest.mark.parametrize("fixtures_in", ["test-module", "conftest"])
@pytest.mark.parametrize(
    ("fixture", "outcome", "error"),
    [
        ("coroutine_setup", {"failed": 1}, "setup failed"),
        ("generator_setup", {"failed": 1}, "setup failed"),
        ("sync_setup", {"failed": 1}, "setup failed"),
        ("generator_teardown", {"passed": 1, "errors": 1}, "teardown failed"),
    ],
)
def test_a_failing_fixture_by_name_shows_the_users_frames_only(
    pytester: pytest.Pytester, fixtures_in: str, fixture: str, outcome: dict[str, int], error: str
) -> None:
    test = ASKS.format(fixture=fixture)
    if fixtures_in == "conftest":
        pytester.makeconftest(FAILING)
        pytester.makepyfile(test_one=test)
        where = "conftest.py"
    else:
        pytester.makepyfile(test_one=FAILING + test)
        where = "test_one.py"
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(
        [f'>       raise ValueError("{error}")', f"E       ValueError: {error}", "", f"{where}:*"],
        consecutive=True,
    )
    for pattern in [OUR_FRAME, *MACHINERY, *CHAINED]:
        result.stdout.no_fnmatch_line(pattern)
    # The same run unfiltered does show those frames: the patterns above really find them.
    result = pytester.runpytest("--fulltrace", *NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines([OUR_FRAME])


def test_a_failing_fixture_by_name_fails_the_test_at_the_await(
    pytester: pytest.Pytester, mode: str
) -> None:
    """As ``request.getfixturevalue()`` of a failing sync fixture does: the test fails (it is
    its call that set the fixture up), showing the awaiting line, then the fixture's."""
    pytester.makepyfile(
        test_one="""
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def broken():
            raise ValueError("setup failed")

        @pytest.mark.asyncio
        async def test_one(request):
            await awaitest.getfixturevalue(request, "broken")
        """
    )
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_one _*",
            "",
            "request = <FixtureRequest for <Function test_one>>",
            "",
            "    @pytest.mark.asyncio",
            "    async def test_one(request):",
            '>       await awaitest.getfixturevalue(request, "broken")',
            "",
            "test_one.py:11: ",
            "_ _ _ *",
            "",
            "    @pytest_asyncio.fixture",
            "    async def broken():",
            '>       raise ValueError("setup failed")',
            "E       ValueError: setup failed",
            "",
            "test_one.py:7: ValueError",
        ],
        consecutive=True,
    )


def test_strict_mode_fails_an_async_pytest_fixture_by_name_as_at_setup(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import awaitest

        @pytest.fixture
        async def plain():
            return 1

        @pytest.mark.asyncio
        async def test_uses(request):
            await awaitest.getfixturevalue(request, "plain")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio test 'test_uses' requested async @pytest.fixture 'plain' in strict mode.",
            "awaitest runs it once it is declared with @pytest_asyncio.fixture or"
            " @awaitest.fixture instead of @pytest.fixture (test_strict_mode_fails_an_async"
            "_pytest_fixture_by_name_as_at_setup.py:4), or set asyncio_mode = auto to run every"
            " async fixture without one.",
        ],
        consecutive=True,
    )


def test_plain_request_getfixturevalue_of_an_async_fixture_names_the_awaitable_way(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_plain="""
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def late():
            return 1

        @pytest.fixture
        def wraps_late(late):
            return late

        @pytest_asyncio.fixture
        async def asks_plainly(request):
            return request.getfixturevalue("late")

        @pytest.mark.asyncio
        async def test_dynamic(request):
            request.getfixturevalue("late")

        @pytest.mark.asyncio
        async def test_through_a_sync_fixture(request):
            request.getfixturevalue("wraps_late")

        @pytest.mark.asyncio
        async def test_from_a_fixture(asks_plainly):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2, errors=1)
    message = (
        ": request.getfixturevalue() can't set up async fixture 'late' while an event loop is"
        " running (inside an async test or fixture); use `await awaitest.getfixturevalue("
        "request, 'late')` instead, or request 'late' as an argument"
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_from_a_fixture _*",
            f"test_plain.py::test_from_a_fixture{message}",
            "*_ test_dynamic _*",
            f"test_plain.py::test_dynamic{message}",
            "*_ test_through_a_sync_fixture _*",
            f"test_plain.py::test_through_a_sync_fixture{message}",
        ]
    )
    for line in CHAINED:
        result.stdout.no_fnmatch_line(line)


def test_in_a_sync_test_the_error_says_to_use_request_getfixturevalue(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_sync="""
        import asyncio
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def number():
            return 42

        def test_sync(request):
            awaitest.getfixturevalue(request, "number")

        def test_asyncio_run(request):
            async def main():
                await awaitest.getfixturevalue(request, "number")

            asyncio.run(main())

        def test_what_works(request):
            assert request.getfixturevalue("number") == 42
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "test_sync.py::test_sync: awaitest.getfixturevalue(request, 'number') is for async"
            " tests and async fixtures, and no event loop is running here; use"
            " request.getfixturevalue('number'), which sets up async fixtures too",
            "test_sync.py::test_asyncio_run: awaitest.getfixturevalue(request, 'number') was"
            " called on an event loop awaitest doesn't run (asyncio.run() or a loop of your"
            " own); it works in the async tests and fixtures awaitest runs. Outside a running"
            " loop, request.getfixturevalue('number') sets up async fixtures too",
        ]
    )


def test_with_awaitest_off_the_error_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_off="""
        import awaitest

        def test_sync(request):
            awaitest.getfixturevalue(request, "tmp_path")
        """
    )
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "awaitest.getfixturevalue(request, 'tmp_path'): awaitest is not active in this run"
            " (-p no:awaitest or -p no:asyncio); request.getfixturevalue() is pytest's own",
        ]
    )


def test_in_a_fixtures_teardown_it_is_refused(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        test_teardown="""
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def other():
            return 1

        @pytest_asyncio.fixture
        async def late_asker(request):
            yield
            await awaitest.getfixturevalue(request, "other")

        @pytest.mark.asyncio
        async def test_uses(late_asker):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_uses _*",
            "test_teardown.py::test_uses, fixture 'late_asker': awaitest.getfixturevalue("
            "request, 'other') was awaited while awaitest tears down (a fixture's teardown, or"
            " the end of a loop), where pytest sets up no fixtures; request 'other' as an"
            " argument, or before the fixture yields",
        ],
        consecutive=True,
    )


def test_a_fixture_by_name_that_hangs_times_out_showing_both_tasks(
    pytester: pytest.Pytester, mode: str
) -> None:
    ini(pytester, asyncio_mode=mode, asyncio_timeout="0.2")
    pytester.makepyfile(
        test_hangs="""
        import asyncio
        import pytest
        import pytest_asyncio
        import awaitest

        @pytest_asyncio.fixture
        async def hangs():
            await asyncio.sleep(30)
            yield

        @pytest.mark.asyncio
        async def test_uses(request):
            await awaitest.getfixturevalue(request, "hangs")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "timed out after 0.2 s (asyncio_timeout = 0.2); pending tasks at that moment:",
            "Task 'Task-*' running test_uses():",
            '  File "*test_hangs.py", line 13, in test_uses',
            '    await awaitest.getfixturevalue(request, "hangs")',
            "Task 'Task-*' async fixture hangs():",
            '  File "*test_hangs.py", line 8, in hangs',
            "    await asyncio.sleep(30)",
        ],
        consecutive=True,
    )
