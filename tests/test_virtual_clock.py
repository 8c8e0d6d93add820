"""The ``virtual_clock`` fixture and ``asyncio_clock = virtual``, through the plugin.

Nothing here sleeps for real: every test file asserts on virtual times (``loop.time()``) and
checks that the real time spent stays far below them.
"""

from __future__ import annotations

import pytest
from _helpers import ini

# Inner tests that sleep for hours of virtual time assert that they took less than this real
# time, so a clock that silently fell back to real time fails instead of hanging for an hour.
_REAL_LIMIT = "30"


def test_sleep_an_hour_returns_at_once(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_hour(virtual_clock):
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            assert loop.time() == 0
            await asyncio.sleep(3600)
            assert loop.time() == virtual_clock.time() == 3600
            assert time.monotonic() - started < {_REAL_LIMIT}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_wait_for_and_timeout_expire_in_virtual_time(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_wait_for(virtual_clock):
            loop = asyncio.get_running_loop()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.sleep(120), timeout=30)
            assert loop.time() == 30

        @pytest.mark.asyncio
        async def test_timeout(virtual_clock):
            loop = asyncio.get_running_loop()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(600):
                    await asyncio.Event().wait()
            assert loop.time() == 600

        @pytest.mark.asyncio
        async def test_in_time(virtual_clock):
            loop = asyncio.get_running_loop()
            fired = []
            loop.call_later(5, fired.append, "later")
            loop.call_at(7, fired.append, "at")
            async with asyncio.timeout(600):
                await asyncio.sleep(120)
            assert fired == ["later", "at"]
            assert loop.time() == 120
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_advance_and_manual_mode(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import math
        import pytest

        async def callbacks_due_have_run():
            # Due timers run on the loop's next iteration, after this task resumes once.
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_advance_runs_due_timers_in_order(virtual_clock):
            virtual_clock.autojump_threshold = math.inf
            loop = asyncio.get_running_loop()
            fired = []
            for delay in (30, 10, 20):
                loop.call_later(delay, fired.append, delay)
            virtual_clock.advance(15)
            await callbacks_due_have_run()
            assert fired == [10]
            virtual_clock.advance(15)
            await callbacks_due_have_run()
            assert fired == [10, 20, 30]
            assert loop.time() == 30

        @pytest.mark.asyncio
        async def test_sleeper_waits_for_advance(virtual_clock):
            virtual_clock.autojump_threshold = math.inf
            sleeper = asyncio.create_task(asyncio.sleep(60, result="woke"))
            await asyncio.sleep(0)
            virtual_clock.advance(59)
            await asyncio.sleep(0)
            assert not sleeper.done()
            virtual_clock.advance(1)
            assert await sleeper == "woke"
            assert virtual_clock.time() == 60

        @pytest.mark.asyncio
        async def test_advance_rejects_going_back(virtual_clock):
            with pytest.raises(ValueError, match="time can't go backwards"):
                virtual_clock.advance(-1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_real_localhost_server_and_client(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_echo_after_a_minute(virtual_clock):
            loop = asyncio.get_running_loop()

            async def handle(reader, writer):
                line = await reader.readline()
                await asyncio.sleep(60)  # a slow server, in virtual time
                writer.write(line.upper())
                await writer.drain()
                writer.close()
                await writer.wait_closed()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"ping\\n")
                await writer.drain()
                reply = await asyncio.wait_for(reader.readline(), timeout=300)
                writer.close()
                await writer.wait_closed()
            assert reply == b"PING\\n"
            assert loop.time() == 60
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_async_fixtures_share_the_virtual_loop(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import awaitest

        @awaitest.fixture
        async def session_token():
            await asyncio.sleep(100)
            return asyncio.get_running_loop()

        @awaitest.fixture
        async def connection(session_token):
            await asyncio.sleep(10)
            yield asyncio.get_running_loop()
            await asyncio.sleep(1000)
            print("teardown at", asyncio.get_running_loop().time())

        @pytest.mark.asyncio
        async def test_on_one_loop(connection, session_token, virtual_clock, event_loop):
            loop = asyncio.get_running_loop()
            assert connection is session_token is loop is event_loop
            assert loop.time() == virtual_clock.time() == 110
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*teardown at 1110.0*"])


def test_each_test_gets_its_own_clock_and_real_time_comes_back(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        loops = []

        @pytest.mark.asyncio
        async def test_first(virtual_clock):
            loops.append(asyncio.get_running_loop())
            asyncio.get_running_loop().create_task(asyncio.sleep(10**9))  # left pending
            await asyncio.sleep(50)

        @pytest.mark.asyncio
        async def test_second(virtual_clock):
            assert asyncio.get_running_loop() is not loops[0]
            assert virtual_clock.time() == 0

        @pytest.mark.asyncio
        async def test_real(event_loop):
            assert abs(asyncio.get_running_loop().time() - time.monotonic()) < 5

        def test_after():
            assert loops[0].is_closed()
            assert "time" not in vars(loops[0])  # the clock was detached
            assert asyncio.run(asyncio.sleep(0, result=1)) == 1
        """
    )
    pytester.runpytest("-W", "error").assert_outcomes(passed=4)


def test_virtual_waits_do_not_count_against_real_timeouts(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio(timeout=5)
        async def test_a_virtual_day(virtual_clock):
            async with asyncio.timeout(86400 + 1):
                await asyncio.sleep(86400)
            assert virtual_clock.time() == 86400
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_wider_fixture_requested_at_run_time_stays_on_the_real_loop(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest
        import awaitest

        @awaitest.fixture(scope="module")
        async def shared():
            return asyncio.get_running_loop()

        @pytest.fixture
        def indirect(request):
            return request.getfixturevalue("shared")

        @pytest.mark.asyncio
        async def test_virtual(virtual_clock, indirect):
            assert indirect is not asyncio.get_running_loop()
            assert abs(indirect.time() - time.monotonic()) < 5

        @pytest.mark.asyncio
        async def test_real(shared):
            assert asyncio.get_running_loop() is shared
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_ini_turns_it_on_for_function_loop_tests(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_clock="virtual")
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest
        import awaitest

        @awaitest.fixture(scope="module", loop_scope="module")
        async def module_loop():
            return asyncio.get_running_loop()

        async def test_virtual_without_asking():
            await asyncio.sleep(3600)
            assert asyncio.get_running_loop().time() == 3600

        async def test_fixture_can_still_be_requested(virtual_clock):
            virtual_clock.advance(5)
            assert asyncio.get_running_loop().time() == 5

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop_stays_real():
            assert abs(asyncio.get_running_loop().time() - time.monotonic()) < 5

        async def test_widened_by_its_fixture_stays_real(module_loop):
            assert asyncio.get_running_loop() is module_loop
            assert abs(module_loop.time() - time.monotonic()) < 5
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_ini_default_is_real_time(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_real():
            assert abs(asyncio.get_running_loop().time() - time.monotonic()) < 5
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("scope", ["class", "module", "package", "session"])
def test_wider_loop_is_an_error(pytester: pytest.Pytester, mode: str, scope: str) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.mark.asyncio(loop_scope="{scope}")
        async def test_shared_loop(virtual_clock):
            await asyncio.sleep(1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"test_wider_loop_is_an_error.py::test_shared_loop requests virtual_clock but runs "
            f"on the {scope}-scoped event loop, which outlives the test; time can only be "
            "virtual on the test's own loop. Fix: "
            '@pytest.mark.asyncio(loop_scope="function") on the test, '
            "or don't request virtual_clock.",
        ]
    )


def test_default_test_loop_scope_wider_is_an_error(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_default_test_loop_scope="session")
    pytester.makepyfile(
        """
        async def test_shared_loop(virtual_clock):
            pass

        async def test_without_clock():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*::test_shared_loop requests virtual_clock but runs on the session-scoped event loop*"]
    )


def test_mixing_with_a_wider_loop_fixture_is_an_error(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import awaitest

        @awaitest.fixture(scope="module")
        async def pool():
            return object()

        @awaitest.fixture(loop_scope="session")
        async def client():
            return object()

        @pytest.mark.asyncio
        async def test_with_pool(pool, virtual_clock):
            pass

        @pytest.mark.asyncio(loop_scope="function")
        async def test_with_client(client, virtual_clock):
            pass
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "test_mixing_with_a_wider_loop_fixture_is_an_error.py::test_with_pool requests "
            "virtual_clock but its async fixture 'pool' runs on the module-scoped event loop, "
            "where time is real, so the two would disagree. Fix: don't request virtual_clock "
            "in tests that use 'pool', or make 'pool' function-scoped.",
            "test_mixing_with_a_wider_loop_fixture_is_an_error.py::test_with_client requests "
            "virtual_clock but its async fixture 'client' runs on the session-scoped event "
            "loop, where time is real, so the two would disagree. Fix: "
            "loop_scope=\"function\" on fixture 'client' so it runs on the test's virtual "
            "loop, or don't request virtual_clock.",
        ]
    )


def test_uvloop_is_an_error_naming_the_factory(pytester: pytest.Pytester, mode: str) -> None:
    pytest.importorskip("uvloop")
    ini(pytester, asyncio_mode=mode, asyncio_loop_factories="uvloop")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_virtual(virtual_clock):
            pass

        @pytest.mark.asyncio
        async def test_real():
            assert type(asyncio.get_running_loop()).__module__ == "uvloop"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_uvloop_is_an_error_naming_the_factory.py::test_virtual requests virtual_clock,"
            " but its loop comes from loop factory 'uvloop', which makes uvloop.Loop, whose"
            " clock awaitest can't replace: time can only be virtual on a selector-based"
            ' asyncio loop. Fix: @pytest.mark.asyncio(loop_factories=["asyncio"]) on the test,'
            " or don't request virtual_clock.",
        ]
    )
    result.stdout.no_fnmatch_line("*During handling*")


UVLOOP_POLICY_TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_virtual(virtual_clock):
    await asyncio.sleep(3600)
    assert type(asyncio.get_running_loop()).__module__.startswith("asyncio")

@pytest.mark.asyncio
async def test_real():
    assert type(asyncio.get_running_loop()).__module__ == "uvloop"
"""


def test_uvloop_policy_names_what_the_user_wrote(pytester: pytest.Pytester, mode: str) -> None:
    """Not a "loop factory 'policy'" the user never wrote: the ini line, and the marker that
    fixes it, which then passes."""
    pytest.importorskip("uvloop")
    ini(pytester, asyncio_mode=mode, event_loop_policy="uvloop.EventLoopPolicy")
    pytester.makepyfile(test_policy=UVLOOP_POLICY_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_policy.py::test_virtual requests virtual_clock, but its loop comes from"
            " event_loop_policy = uvloop.EventLoopPolicy, which makes uvloop.Loop, whose clock"
            " awaitest can't replace: time can only be virtual on a selector-based asyncio"
            ' loop. Fix: @pytest.mark.asyncio(loop_factories=["asyncio"]) on the test, or'
            " don't request virtual_clock.",
        ]
    )
    fixed = UVLOOP_POLICY_TESTS.replace(
        "@pytest.mark.asyncio\nasync def test_virtual",
        '@pytest.mark.asyncio(loop_factories=["asyncio"])\nasync def test_virtual',
    )
    assert fixed != UVLOOP_POLICY_TESTS
    pytester.makepyfile(test_policy=fixed)
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("keys", "source", "drop"),
    [
        (
            {"event_loop_policy": "uvloop.EventLoopPolicy"},
            "event_loop_policy = uvloop.EventLoopPolicy",
            "remove event_loop_policy",
        ),
        (
            {"asyncio_loop_factories": "asyncio uvloop"},
            "loop factory 'uvloop' of asyncio_loop_factories",
            "remove 'uvloop' from asyncio_loop_factories",
        ),
    ],
    ids=["policy", "factories"],
)
def test_ini_virtual_clock_with_uvloop_is_one_usage_error(
    pytester: pytest.Pytester, keys: dict[str, str], source: str, drop: str
) -> None:
    """uvloop keeps its clock in C (its timers ignore loop.time): it can't be virtual, so the
    run stops at start instead of failing every function-loop test."""
    pytest.importorskip("uvloop")
    ini(pytester, asyncio_mode="auto", asyncio_clock="virtual", **keys)
    pytester.makepyfile(
        """
        import asyncio

        async def test_sleeps():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: asyncio_clock = virtual can't be used with {source}: its loops are"
            " uvloop.Loop, whose clock awaitest can't replace (time can only be virtual on a"
            " selector-based asyncio loop). Fix: set asyncio_clock = real and request the"
            " virtual_clock fixture in tests marked"
            f' @pytest.mark.asyncio(loop_factories=["asyncio"]), or {drop}.',
        ]
    )
    ini(pytester, asyncio_mode="auto", asyncio_clock="real", **keys)  # the fix
    passed = 2 if "asyncio_loop_factories" in keys else 1  # once per factory
    pytester.runpytest().assert_outcomes(passed=passed)


THREAD_TIMEOUT = """
import asyncio
import aiosqlite
import pytest

@pytest.mark.asyncio
async def test_query(virtual_clock):
    virtual_clock.autojump_threshold = THRESHOLD
    async with asyncio.timeout(5):
        async with aiosqlite.connect(":memory:") as db:
            await db.execute("select 1")
"""


def test_timeout_beside_a_thread_the_clock_cant_see_says_so(
    pytester: pytest.Pytester, mode: str
) -> None:
    """aiosqlite works in a thread of its own: the clock jumps to the timeout before the
    answer. The TimeoutError says why and names the fix, which then passes."""
    pytester.makepyfile(test_db=THREAD_TIMEOUT.replace("THRESHOLD", "0"))
    # in a process of its own: the timed-out connection is never closed, and on Python 3.13
    # sqlite3's ResourceWarning for it would reach whichever test collects it next
    result = pytester.runpytest_subprocess("--tb=short")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   TimeoutError",
            "E   awaitest: the virtual clock jumped from 0 to 5 s while thread '*' was running."
            " The clock waits for jobs of loop.run_in_executor (asyncio.to_thread) but can't"
            " see other threads (aiosqlite's, a library's own worker), so a timeout can expire"
            " before their answer arrives. Fix: request the virtual_clock fixture and set"
            " virtual_clock.autojump_threshold = 0.1 (real seconds to wait for I/O and threads"
            " before each jump).",
        ]
    )
    pytester.makepyfile(test_db=THREAD_TIMEOUT.replace("THRESHOLD", "0.1"))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_timeouts_beside_executor_jobs_say_nothing_of_threads(
    pytester: pytest.Pytester, mode: str
) -> None:
    """asyncio.to_thread and run_in_executor hold the clock (no jump while they run); a
    timeout that expires for real afterwards is the user's own, with no note."""
    pytester.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        async def test_threads_then_a_real_timeout(virtual_clock):
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.05), timeout=1)
            await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.05), timeout=1)
            assert loop.time() == 0
            await asyncio.wait_for(asyncio.sleep(60), timeout=30)
        """
    )
    result = pytester.runpytest("--tb=short")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   TimeoutError"])
    result.stdout.no_fnmatch_line("*virtual clock jumped*")


def test_custom_selector_loop_factory_works(pytester: pytest.Pytester, mode: str) -> None:
    ini(pytester, asyncio_mode=mode, asyncio_loop_factories="loops:new_loop")
    pytester.makepyfile(
        loops="""
        import asyncio

        class MyLoop(asyncio.SelectorEventLoop):
            pass

        def new_loop():
            return MyLoop()
        """,
        test_custom="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_virtual(virtual_clock):
            assert type(asyncio.get_running_loop()).__name__ == "MyLoop"
            await asyncio.sleep(3600)
            assert virtual_clock.time() == 3600
        """,
    )
    pytester.syspathinsert()
    pytester.runpytest().assert_outcomes(passed=1)


def test_sync_test_requesting_it_is_an_error(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        def test_sync(virtual_clock):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_sync_test_requesting_it_is_an_error.py::test_sync requests virtual_clock, "
            "which only works in async tests that awaitest runs. Make it an async def test "
            "marked with @pytest.mark.asyncio (or set asyncio_mode = auto).",
        ]
    )


def test_user_defined_event_loop_is_an_error(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()

        @pytest.mark.asyncio
        async def test_virtual(virtual_clock):
            pass
        """
    )
    result = pytester.runpytest("-W", "ignore::DeprecationWarning")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_user_defined_event_loop_is_an_error.py::test_virtual requests virtual_clock "
            "but its event loop comes from the user-defined event_loop fixture, whose clock "
            "awaitest can't replace. Fix: remove that fixture override for this test, or don't "
            "request virtual_clock.",
        ]
    )
