"""Suites written for pytest-asyncio, old and new, run unchanged; neighbouring plugins keep
their own tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _helpers import ini, run_verbose

Run = Callable[..., pytest.RunResult]


@pytest.fixture(params=["in-process", "subprocess"])
def run(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> Run:
    """Run pytest in this process (pytester) and in a fresh interpreter, as a user would."""
    if request.param == "in-process":
        return pytester.runpytest
    return pytester.runpytest_subprocess


def test_pytest_asyncio_import_is_our_api(pytester: pytest.Pytester, run: Run) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio
        import awaitest

        pytest_plugins = "pytest_asyncio"

        @pytest_asyncio.fixture
        async def value():
            return 1

        @pytest.mark.asyncio
        async def test_api(value, request):
            assert pytest_asyncio.fixture is awaitest.fixture
            assert pytest_asyncio.is_async_test(request.node)
            assert pytest_asyncio.__version__ == "1.5.0"
            assert value == 1
        """
    )
    result = run("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*already imported*")


@pytest.mark.parametrize("loop_scope", ["function", "module", "session"])
def test_event_loop_fixture_is_the_loop_the_test_runs_on(
    pytester: pytest.Pytester, mode: str, loop_scope: str
) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        @pytest.fixture
        def scheduled(event_loop):
            future = event_loop.create_future()
            event_loop.call_soon(future.set_result, "ran")
            return future

        @pytest.mark.asyncio(loop_scope="{loop_scope}")
        async def test_schedules_onto_it(scheduled, event_loop):
            assert event_loop is asyncio.get_running_loop()
            assert await scheduled == "ran"

        def test_sync_test_gets_a_usable_loop(event_loop):
            assert event_loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
        """
    )
    pytester.runpytest("-W", "error").assert_outcomes(passed=2)


# The pattern of the seed tutorial: a session-scoped event_loop override in conftest.py, a
# session async fixture that names it, function async fixtures that don't.
SEED_CONFTEST = """
import asyncio
import pytest
import pytest_asyncio

LOOPS = set()

@pytest.fixture(scope="{scope}")
def event_loop():
    policy = asyncio.get_event_loop_policy()
    loop = policy.new_event_loop()
    yield loop
    loop.close()
    print("user closed the loop")

@pytest_asyncio.fixture(scope="session")
async def shared_resource(event_loop):
    assert asyncio.get_running_loop() is event_loop
    yield "resource"
    assert asyncio.get_running_loop() is event_loop

@pytest_asyncio.fixture
async def async_counter():
    LOOPS.add(asyncio.get_running_loop())
    yield 0
    LOOPS.add(asyncio.get_running_loop())

@pytest.fixture
def sync_current_loop():
    return asyncio.get_event_loop()

def pytest_sessionfinish():
    print("loops used:", len(LOOPS))
"""

SEED_TESTS = """
import asyncio
import pytest
from conftest import LOOPS

@pytest.mark.asyncio
async def test_counter(async_counter, sync_current_loop):
    assert sync_current_loop is asyncio.get_running_loop()
    LOOPS.add(asyncio.get_running_loop())

@pytest.mark.asyncio
async def test_shared(shared_resource, event_loop):
    assert asyncio.get_running_loop() is event_loop
    LOOPS.add(event_loop)
"""


@pytest.mark.parametrize(("scope", "loops"), [("session", 1), ("function", 4)])
def test_user_event_loop_fixture_is_honoured(
    pytester: pytest.Pytester, mode: str, scope: str, loops: int
) -> None:
    pytester.makeconftest(SEED_CONFTEST.replace("{scope}", scope))
    pytester.makepyfile(test_a=SEED_TESTS, test_b=SEED_TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest("-s", "-W", "error")
    if scope == "function":
        # The session fixture asks for a function-scoped loop: pytest refuses, as it did with
        # pytest-asyncio.
        result.assert_outcomes(passed=2, errors=2)
        result.stdout.fnmatch_lines(["*ScopeMismatch*"])
        return
    # pytest-asyncio 1.x ignores the fixture without a word: an advisory, not a warning
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*user closed the loop*",
            f"loops used: {loops}",
            "*= awaitest advisories =*",
            "test_a.py::test_counter: The event_loop fixture at conftest.py:7 overrides "
            "awaitest's: a user-defined event_loop fixture is deprecated "
            "(pytest-asyncio removed it in 1.0). awaitest runs the tests and async fixtures "
            "that see it on the loop it returns; to share one loop without it, delete the "
            'fixture and mark the tests @pytest.mark.asyncio(loop_scope="session") (or set '
            "asyncio_default_test_loop_scope = session) and give async fixtures "
            'loop_scope="session".',
        ]
    )


def test_user_event_loop_fixture_per_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import asyncio
        import pytest

        MADE = []

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            MADE.append(loop)
            yield loop
            loop.close()
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from conftest import MADE

        @pytest.mark.asyncio
        @pytest.mark.parametrize("n", [1, 2])
        async def test_runs_on_it(n):
            assert asyncio.get_running_loop() is MADE[-1]
            assert len(MADE) == n

        def test_no_closed_loop_is_left_current():
            local = getattr(asyncio.get_event_loop_policy(), "_local", None)
            current = getattr(local, "_loop", None)
            assert current is None or not current.is_closed()
        """
    )
    pytester.syspathinsert()
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_user_event_loop_fixture_per_test.py::test_runs_on_it[[]1[]]: The event_loop "
            "fixture at conftest.py:6 overrides awaitest's: a user-defined event_loop fixture "
            "is deprecated *",
        ]
    )


@pytest.mark.parametrize("fixture_scope", ["function", "module", "session"])
def test_event_loop_policy_fixture_override(pytester: pytest.Pytester, fixture_scope: str) -> None:
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        class CustomPolicy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                loop = super().new_event_loop()
                loop.made_by = self
                return loop

        @pytest.fixture(scope="{fixture_scope}", params=[CustomPolicy(), CustomPolicy()])
        def event_loop_policy(request):
            return request.param

        @pytest.mark.asyncio
        async def test_loop_from_policy(event_loop_policy):
            assert asyncio.get_event_loop_policy() is event_loop_policy
            assert asyncio.get_running_loop().made_by is event_loop_policy

        @pytest.mark.asyncio
        async def test_without_requesting_it():
            assert isinstance(asyncio.get_event_loop_policy(), CustomPolicy)

        def test_policy_restored_after():
            assert not isinstance(asyncio.get_event_loop_policy(), CustomPolicy)
        """
    )
    result = pytester.runpytest("-W", "default")
    result.assert_outcomes(passed=5, warnings=1)  # pytest-asyncio warns here too
    result.stdout.fnmatch_lines(
        [
            "*PytestDeprecationWarning: Overriding the event_loop_policy fixture is "
            "deprecated, as in pytest-asyncio. awaitest makes loops from the policy it "
            "returns; instead, set the ini key event_loop_policy (e.g. uvloop.EventLoopPolicy) "
            "or asyncio_loop_factories, or implement the pytest_asyncio_loop_factories hook."
        ]
    )


def test_unused_port_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def bind(kind, port):
            with socket.socket(type=kind) as sock:
                sock.bind(("127.0.0.1", port))

        def test_single(unused_tcp_port, unused_udp_port):
            bind(socket.SOCK_STREAM, unused_tcp_port)
            bind(socket.SOCK_DGRAM, unused_udp_port)

        def test_factories(unused_tcp_port_factory, unused_udp_port_factory):
            tcp = [unused_tcp_port_factory() for _ in range(20)]
            udp = [unused_udp_port_factory() for _ in range(20)]
            assert len(set(tcp)) == len(set(udp)) == 20
            for port in tcp:
                bind(socket.SOCK_STREAM, port)
            for port in udp:
                bind(socket.SOCK_DGRAM, port)

        def test_factories_remember_for_the_session(unused_tcp_port_factory):
            assert unused_tcp_port_factory.__name__ == "unused_port"
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_anyio_and_trio_tests_stay_theirs_in_auto_mode(pytester: pytest.Pytester) -> None:
    pytest.importorskip("anyio")
    pytest.importorskip("pytest_trio")
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import sniffio

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_anyio(anyio_backend):
            assert sniffio.current_async_library() == anyio_backend

        @pytest.mark.trio
        async def test_trio():
            assert sniffio.current_async_library() == "trio"

        async def test_ours():
            assert sniffio.current_async_library() == "asyncio"
            assert asyncio.get_running_loop()
        """
    )
    assert run_verbose(pytester, "-p", "no:randomly") == {
        "test_anyio[asyncio]": "PASSED",
        "test_anyio[trio]": "PASSED",
        "test_trio": "PASSED",
        "test_ours": "PASSED",
    }


XDIST_SUITE = """
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_loop():
    return asyncio.get_running_loop()

@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("n", range(4))
async def test_module_loop(module_loop, n):
    assert asyncio.get_running_loop() is module_loop

@pytest.mark.asyncio
async def test_fails():
    assert False

def test_sync():
    pass
"""


@pytest.mark.parametrize("dist", ["load"])  # xdist starts slowly: one mode is enough here
def test_xdist_gives_the_serial_outcomes(pytester: pytest.Pytester, dist: str) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_a=XDIST_SUITE, test_b=XDIST_SUITE)
    serial = pytester.runpytest()
    serial.assert_outcomes(passed=10, failed=2)
    parallel = pytester.runpytest_subprocess("-n", "2", "--dist", dist, "-p", "no:benchmark")
    parallel.assert_outcomes(passed=10, failed=2)


def test_conftest_can_mark_every_async_test(pytester: pytest.Pytester, mode: str) -> None:
    """The pytest-asyncio recipe to run all async tests in one session loop."""
    pytester.makeconftest(
        """
        import pytest
        from pytest_asyncio import is_async_test

        def pytest_collection_modifyitems(items):
            session_loop = pytest.mark.asyncio(loop_scope="session")
            for item in items:
                if is_async_test(item):
                    item.add_marker(session_loop, append=False)
        """
    )
    test = """
        import asyncio
        import pytest

        LOOPS = set()

        @pytest.mark.asyncio
        async def test_one():
            LOOPS.add(asyncio.get_running_loop())

        @pytest.mark.asyncio
        async def test_two():
            LOOPS.add(asyncio.get_running_loop())
            assert len(LOOPS) == 1

        def test_sync():
            pass
        """
    pytester.makepyfile(
        test_a=test, test_b=test.replace("LOOPS = set()", "from test_a import LOOPS")
    )
    pytester.syspathinsert()
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=6)


def test_auto_mode_marks_the_tests_it_runs(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(params=["asyncio"])
        def anyio_backend(request):
            return request.param

        async def test_ours(request):
            assert [m.name for m in request.node.iter_markers()] == ["asyncio"]

        @pytest.mark.anyio
        async def test_anyio(request, anyio_backend):
            assert request.node.get_closest_marker("asyncio") is None

        def test_sync(request):
            assert request.node.get_closest_marker("asyncio") is None
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_a_class_override_is_seen_after_tests_of_its_module_that_saw_none(
    pytester: pytest.Pytester,
) -> None:
    # awaitest remembers that a parent's tests see no user loop while pytest generates them:
    # the class is another parent, whose own event_loop_policy still parametrizes its test
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_before():
            pass

        class TestOwn:
            @pytest.fixture(params=["a", "b"])
            def event_loop_policy(self, request):
                return asyncio.DefaultEventLoopPolicy()

            @pytest.mark.asyncio
            async def test_in_class(self):
                pass

        @pytest.mark.asyncio
        async def test_after():
            pass
        """
    )
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_before PASSED*",
            "*::TestOwn::test_in_class[[]a[]] PASSED*",
            "*::TestOwn::test_in_class[[]b[]] PASSED*",
            "*::test_after PASSED*",
            "*PytestDeprecationWarning: Overriding the event_loop_policy fixture is deprecated*",
        ]
    )
