"""Which loop each test and fixture runs on, and what a loop's end cleans up (the rules in
docs/how-to/several-loops.md)."""

from __future__ import annotations

import pytest
from _helpers import ini, package

WIDE_SCOPES = ["class", "module", "package", "session"]


@pytest.mark.parametrize("scope", WIDE_SCOPES)
def test_tests_marked_with_a_scope_share_its_loop(pytester: pytest.Pytester, scope: str) -> None:
    ini(pytester, asyncio_mode="auto")
    package(
        pytester,
        "pkg",
        test_a=f"""
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio(loop_scope="{scope}")
        loops = []

        class TestFirst:
            async def test_1(self):
                loops.append(asyncio.get_running_loop())

            async def test_2(self):
                loops.append(asyncio.get_running_loop())
                assert loops[0] is loops[1]

        class TestSecond:
            async def test_3(self):
                loops.append(asyncio.get_running_loop())
                same = loops[2] is loops[0]
                assert same == ("{scope}" != "class")
        """,
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_function_loops_are_new_per_test(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        # one loop per test is what this checks; concurrent tests share their batch's loop
        pytestmark = pytest.mark.awaitest(concurrent=False)
        loops = []

        @pytest.mark.asyncio
        async def test_1():
            loops.append(asyncio.get_running_loop())

        @pytest.mark.asyncio
        async def test_2():
            assert asyncio.get_running_loop() is not loops[0]
            assert loops[0].is_closed()
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("keys", "marker"),
    [
        pytest.param({"asyncio_default_test_loop_scope": "module"}, "", id="module-ini"),
        # a class loop for a test outside any class is its module's
        pytest.param({"asyncio_default_test_loop_scope": "class"}, "", id="class-ini"),
        pytest.param({}, 'pytestmark = pytest.mark.asyncio(loop_scope="class")', id="class-marker"),
    ],
)
def test_module_and_class_loops_are_shared_by_a_modules_tests(
    pytester: pytest.Pytester, keys: dict[str, str], marker: str
) -> None:
    ini(pytester, asyncio_mode="auto", **keys)
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        {marker}
        loops = []

        async def test_1():
            loops.append(asyncio.get_running_loop())

        async def test_2():
            assert asyncio.get_running_loop() is loops[0]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_subpackages_get_their_own_package_loop(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        subpackage_loops="""
        import asyncio

        LOOPS = {}

        def remember(key):
            LOOPS.setdefault(key, set()).add(asyncio.get_running_loop())
        """,
        conftest="""
        from subpackage_loops import LOOPS

        def pytest_sessionfinish():
            pkg, sub = LOOPS["pkg"], LOOPS["sub"]
            print("loops:", len(pkg), len(sub), pkg.isdisjoint(sub))
        """,
    )
    package(
        pytester,
        "pkg",
        test_a="""
        import pytest
        from subpackage_loops import remember

        pytestmark = pytest.mark.asyncio(loop_scope="package")

        async def test_a1():
            remember("pkg")

        async def test_a2():
            remember("pkg")
        """,
        **{
            "sub/test_b": """
            import pytest
            from subpackage_loops import remember

            pytestmark = pytest.mark.asyncio(loop_scope="package")

            async def test_b1():
                remember("sub")

            async def test_b2():
                remember("sub")
            """,
        },
    )
    pytester.syspathinsert()
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*loops: 1 1 True"])


def test_test_moves_to_the_loop_of_a_session_fixture(pytester: pytest.Pytester, mode: str) -> None:
    """The seed tutorials' shared pool: no loop configuration, and it still works."""
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio

        class Pool:
            def __init__(self):
                self.lock = asyncio.Lock()
                self.loop = asyncio.get_running_loop()

        @pytest_asyncio.fixture(scope="session")
        async def pool():
            yield Pool()

        @pytest_asyncio.fixture
        async def per_test(pool):
            return asyncio.get_running_loop()

        @pytest.mark.asyncio
        async def test_1(pool, per_test):
            async with pool.lock:
                assert asyncio.get_running_loop() is pool.loop is per_test

        @pytest.mark.asyncio
        async def test_2(pool):
            async with pool.lock:
                assert asyncio.get_running_loop() is pool.loop
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_explicit_narrower_marker_is_an_advisory_with_the_fix(pytester: pytest.Pytester) -> None:
    # pytest-asyncio says nothing here: not a warning, which filterwarnings = error would fail
    ini(pytester, asyncio_mode="auto", filterwarnings="error")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def pool():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="function")
        async def test_narrow(pool):
            assert asyncio.get_running_loop() is not pool
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_explicit_narrower_marker_is_an_advisory_with_the_fix.py::test_narrow: The test"
            " runs on the function loop but uses async fixtures on other loops:"
            " 'pool' on the module loop. Objects bound to one loop (connections, locks, tasks)"
            ' fail on another. Fix: @pytest.mark.asyncio(loop_scope="module") on the test',
        ]
    )


# "fixture-scope" is pytest-asyncio's name for each fixture on the loop of its own scope
@pytest.mark.parametrize("default", ["function", "fixture-scope"])
def test_fixture_default_loop_scope_is_never_narrower_than_its_scope(
    pytester: pytest.Pytester, default: str
) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_default_fixture_loop_scope=default)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        async def shared():
            return asyncio.get_running_loop()

        async def test_1(shared):
            assert asyncio.get_running_loop() is shared

        async def test_2(shared):
            assert asyncio.get_running_loop() is shared
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_loop_end_cancels_tasks_runs_finally_and_restores_loop_state(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import warnings
        import pytest

        cleaned = []

        async def forever():
            try:
                await asyncio.sleep(3600)
            finally:
                cleaned.append("task finally")

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                cleaned.append("agen finally")

        @pytest.mark.asyncio
        async def test_leaves_things_behind():
            asyncio.get_running_loop().create_task(forever())
            gen = agen()
            await gen.__anext__()
            await asyncio.sleep(0)

        def test_after_sync():
            assert sorted(cleaned) == ["agen finally", "task finally"]
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                asyncio.run(asyncio.sleep(0))
                loop = asyncio.new_event_loop()
                loop.close()
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-W", "error")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("breakage", ["loop.close()", "asyncio.set_event_loop(None); loop.close()"])
def test_a_test_that_breaks_its_loop_breaks_nothing_after_it(
    pytester: pytest.Pytester, breakage: str
) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        f"""
        import asyncio

        def test_sync_breaks():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            {breakage}
            asyncio.run(asyncio.sleep(0))

        async def test_async_after():
            await asyncio.sleep(0)

        def test_sync_after():
            asyncio.run(asyncio.sleep(0))
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_async_test_that_closes_its_own_loop(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import asyncio

        async def test_closes():
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.stop)

        async def test_after():
            await asyncio.sleep(0)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_package_fixture_in_a_rootdir_package_runs_on_the_package_loop(
    pytester: pytest.Pytester,
) -> None:
    """pytest caches this fixture at the session (its conftest's directory is the rootdir);
    it must still share the package loop with the tests and end with the package."""
    package = pytester.path.name
    pytester.makepyfile(
        __init__="",
        conftest=f"""
        import asyncio
        import pytest_asyncio
        from {package} import shared

        @pytest_asyncio.fixture(loop_scope="package", scope="package")
        async def resource():
            shared.loop = asyncio.get_running_loop()
            yield
            print("teardown on the package loop:", asyncio.get_running_loop() is shared.loop)
        """,
        shared="loop = None\n",
        test_pkg=f"""
        import asyncio
        import pytest
        from {package} import shared

        pytestmark = pytest.mark.asyncio(loop_scope="package")

        async def test_same_loop(resource):
            assert asyncio.get_running_loop() is shared.loop
        """,
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*teardown on the package loop: True*"])


@pytest.mark.parametrize("where", ["fixture", "shutdown_asyncgens"])
def test_a_loop_teardown_that_fails_warns_as_pytest_asyncio_does(
    pytester: pytest.Pytester, where: str
) -> None:
    """A loop a fixture closed, or whose ``shutdown_asyncgens`` a test replaced with one that
    raises, can't be taken down as asyncio.run does: a RuntimeWarning, as pytest-asyncio's."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        test_broken="""
        import asyncio
        import pytest

        @pytest.fixture
        async def running_loop():
            return asyncio.get_running_loop()

        @pytest.fixture
        def closes_it(running_loop):
            yield
            running_loop.close()

        async def test_fixture(closes_it):
            pass

        async def test_shutdown_asyncgens():
            async def fail():
                raise RuntimeError("no cleanup today")

            asyncio.get_running_loop().shutdown_asyncgens = fail

        def test_after():
            asyncio.run(asyncio.sleep(0))
        """
    )
    result = pytester.runpytest("-W", "default", "-k", f"{where} or after")
    result.assert_outcomes(passed=2, warnings=1)
    if where == "fixture":
        lines = [
            "*RuntimeWarning: An exception occurred during teardown of an asyncio.Runner: "
            "RuntimeError('Event loop is closed'). A test or fixture closed the event loop, so "
            "awaitest could not cancel its remaining tasks or close its async generators. Leave "
            "closing the loop to awaitest: it closes each loop when its scope ends.",
        ]
    else:
        lines = [
            "*RuntimeWarning: An exception occurred during teardown of an asyncio.Runner: "
            "shutting the event loop down raised RuntimeError('no cleanup today'), at:",
            '*File "*test_broken.py", line 18, in fail',
        ]
    result.stdout.fnmatch_lines(lines)
