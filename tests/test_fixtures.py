"""Async fixtures: every cache scope, coroutine and generator, teardown, context, mistakes."""

from __future__ import annotations

import pytest
from _helpers import ini, run_verbose

SCOPES = ["function", "class", "module", "package", "session"]


@pytest.mark.parametrize("scope", SCOPES)
def test_generator_fixture_sets_up_and_tears_down_in_one_task(
    pytester: pytest.Pytester, mode: str, scope: str
) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="{scope}")
        async def resource():
            task = asyncio.current_task()
            print("setup")
            yield task
            print("teardown in the setup task:", asyncio.current_task() is task)

        @pytest.mark.asyncio
        async def test_uses(resource):
            assert resource is not asyncio.current_task()
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*setup*", "*teardown in the setup task: True*"])


@pytest.mark.parametrize("scope", SCOPES)
def test_coroutine_fixture_value_and_loop(pytester: pytest.Pytester, mode: str, scope: str) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="{scope}")
        async def loop_of_fixture():
            await asyncio.sleep(0)
            return asyncio.get_running_loop()

        @pytest.mark.asyncio
        async def test_one(loop_of_fixture):
            assert loop_of_fixture is asyncio.get_running_loop()

        @pytest.mark.asyncio
        async def test_two(loop_of_fixture):
            assert loop_of_fixture is asyncio.get_running_loop()
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_teardown_runs_after_a_failing_test(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def resource():
            yield
            print("teardown ran")

        @pytest.mark.asyncio
        async def test_fails(resource):
            assert False
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*teardown ran*"])


def test_fixture_yielding_twice_is_an_error_naming_it(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def greedy():
            yield 1
            yield 2

        @pytest.mark.asyncio
        async def test_uses(greedy):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses*",
            "async fixture 'greedy' yielded a second time; a generator fixture must yield"
            " exactly once",
        ]
    )


def test_fixture_that_never_yields_is_an_error_naming_it(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def empty():
            if False:
                yield

        @pytest.mark.asyncio
        async def test_uses(empty):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "async fixture 'empty' returned without yielding; a generator fixture must yield"
            " exactly once",
        ]
    )


def test_sync_test_can_use_async_fixtures(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def number():
            await asyncio.sleep(0)
            yield 42

        def test_sync(number):
            assert number == 42
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_strict_mode_unmarked_async_fixture_fails_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def plain():
            return 1

        @pytest.mark.asyncio
        async def test_uses(plain):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_uses _*",
            "asyncio test 'test_uses' requested async @pytest.fixture 'plain' in strict mode.",
            "awaitest runs it once it is declared with @pytest_asyncio.fixture or"
            " @awaitest.fixture instead of @pytest.fixture"
            " (test_strict_mode_unmarked_async_fixture_fails_with_the_fix.py:3), or set"
            " asyncio_mode = auto to run every async fixture without one.",
            "=*short test summary info*=",
        ]
    )


@pytest.mark.parametrize("scope", ["module", "session"])
def test_strict_mode_unmarked_wider_async_fixture_fails_each_test_alike(
    pytester: pytest.Pytester, scope: str
) -> None:
    """The first test requesting it is named; pytest caches the error, so every later test
    using the fixture gets the same one (not an AssertionError of pytest's bookkeeping)."""
    pytester.makepyfile(
        test_wide=f"""
        import pytest

        @pytest.fixture(scope="{scope}")
        async def shared():
            yield 1

        @pytest.mark.asyncio
        async def test_first(shared):
            pass

        @pytest.mark.asyncio
        async def test_second(shared):
            pass

        def test_sync_later(shared):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=3)
    message = [
        "asyncio test 'test_first' requested async @pytest.fixture 'shared' in strict mode.",
        "awaitest runs it once it is declared with @pytest_asyncio.fixture or @awaitest.fixture"
        " instead of @pytest.fixture (test_wide.py:3), or set asyncio_mode = auto to run every"
        " async fixture without one.",
        f"'shared' is {scope}-scoped: each test that uses it fails with this error.",
    ]
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_first _*",
            *message,
            "*_ ERROR at setup of test_second _*",
            *message,
            "*_ ERROR at setup of test_sync_later _*",
            *message,
            "=*short test summary info*=",
        ]
    )
    assert "AssertionError" not in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()
    assert "awaitest/_fixtures.py" not in result.stdout.str()  # none of awaitest's frames


def test_auto_mode_runs_plain_pytest_async_fixtures(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def plain():
            yield "value"

        async def test_uses(plain):
            assert plain == "value"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_awaitest_fixture_forms(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest
        import awaitest

        @awaitest.fixture
        async def bare():
            return "bare"

        @awaitest.fixture(name="renamed", params=[1, 2], ids=["one", "two"])
        async def called(request):
            return request.param

        @pytest.mark.asyncio
        async def test_uses(bare, renamed):
            assert bare == "bare"
            assert renamed in (1, 2)
        """
    )
    assert run_verbose(pytester) == {"test_uses[one]": "PASSED", "test_uses[two]": "PASSED"}


def test_bad_fixture_loop_scope_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import awaitest

        @awaitest.fixture(loop_scope="galaxy")
        async def bad():
            return 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   ValueError: awaitest.fixture(loop_scope='galaxy') is not valid; use 'function',"
            " 'class', 'module', 'package' or 'session'",
        ]
    )


def test_fixture_methods_are_bound_to_the_test_instance(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio

        class TestGroup:
            @pytest_asyncio.fixture
            async def me(self):
                self.marker = "set by fixture"
                return self

            @pytest.mark.asyncio
            async def test_same_instance(self, me):
                assert me is self
                assert self.marker == "set by fixture"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("scope", SCOPES)
def test_contextvars_flow_from_fixture_to_its_dependents_only(
    pytester: pytest.Pytester, mode: str, scope: str
) -> None:
    pytester.makepyfile(
        f"""
        import contextvars
        import pytest
        import pytest_asyncio

        user = contextvars.ContextVar("user", default="nobody")

        @pytest_asyncio.fixture(scope="{scope}")
        async def logged_in():
            token = user.set("alice")
            yield
            user.reset(token)

        @pytest_asyncio.fixture
        async def greeting(logged_in):
            return "hello " + user.get()

        @pytest.mark.asyncio
        async def test_sees_it(logged_in, greeting):
            assert user.get() == "alice"
            assert greeting == "hello alice"

        def test_sync_sees_it(logged_in):
            assert user.get() == "alice"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_contextvars_do_not_leak_into_unrelated_tests(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import contextvars
        import pytest
        import pytest_asyncio

        user = contextvars.ContextVar("user", default="nobody")

        @pytest_asyncio.fixture
        async def logged_in():
            user.set("alice")
            yield

        @pytest.mark.asyncio
        async def test_uses(logged_in):
            assert user.get() == "alice"

        @pytest.mark.asyncio
        async def test_unrelated():
            assert user.get() == "nobody"
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.parametrize("loop_scope", ["function", "module"])
def test_sync_fixtures_of_an_async_test_see_the_loop_it_runs_on(
    pytester: pytest.Pytester, mode: str, loop_scope: str
) -> None:
    """A plain sync fixture calling ``asyncio.get_event_loop()`` (or making a future bound to
    the current loop) gets the loop its async test then runs on, at setup and at teardown,
    also when it is set up before any async fixture; a sync test in the next module sees no
    loop of ours."""
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        SEEN = []

        @pytest.fixture
        def current_loop():
            loop = asyncio.get_event_loop()
            SEEN.append(loop)
            yield loop
            assert asyncio.get_event_loop() is loop

        @pytest.fixture
        def pending():
            return asyncio.get_event_loop().create_future()
        """
    )
    pytester.makepyfile(
        test_a_async=f"""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(loop_scope="{loop_scope}")
        async def resource():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="{loop_scope}")
        async def test_first_fixture_is_sync(current_loop, pending, resource):
            assert current_loop is asyncio.get_running_loop() is resource
            pending.set_result("done")
            assert await pending == "done"

        @pytest.mark.asyncio(loop_scope="{loop_scope}")
        async def test_after_an_async_fixture(resource, current_loop):
            assert current_loop is asyncio.get_running_loop()
        """,
        test_b_sync="""
        import asyncio
        import warnings
        from conftest import SEEN

        def test_sync_sees_no_leftover_loop():
            assert len(SEEN) == 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    loop = asyncio.get_event_loop()  # if any, one made now
                except RuntimeError:  # "There is no current event loop"
                    return
            assert all(loop is not seen for seen in SEEN) and not loop.is_closed()
            asyncio.set_event_loop(None)
            loop.close()
        """,
    )
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "no:randomly", "-W", "error")
    result.assert_outcomes(passed=3)


def test_a_sync_fixture_may_close_the_loop_it_was_given_before_the_test_used_it(
    pytester: pytest.Pytester, mode: str
) -> None:
    """The shape of suites that start afresh with asyncio.run() in a sync fixture: the test's
    loop it was shown and closed was never used, so the test gets a new one, no warning."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture
        def runs_its_own_loop():
            asyncio.get_event_loop().close()
            return asyncio.run(asyncio.sleep(0, "ran"))

        @pytest.mark.asyncio
        @pytest.mark.parametrize("n", [0, 1])
        async def test_still_runs(runs_its_own_loop, n):
            assert runs_its_own_loop == "ran"
            assert not asyncio.get_running_loop().is_closed()
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=2)
