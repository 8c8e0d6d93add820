"""No event loop policy API unless the user's configuration names a policy: loops come from
factories, on every Python. The policy API is deprecated from Python 3.14 on and removed in
3.16; these runs take it away from ``asyncio`` before awaitest is imported, as 3.16 will."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("uvloop")

#: Loaded with ``-p`` (before the plugins of entry points, awaitest among them): asyncio without
#: its policy API, as on Python 3.16. asyncio's own modules keep theirs: on these Pythons
#: ``asyncio.set_event_loop`` and ``asyncio.run`` use it, and asyncio imports its default policy
#: class from the package when it first needs a policy, so that is done before the removal.
NO_POLICY_API = """
import asyncio
import sys

asyncio.get_event_loop_policy()

REMOVED = frozenset(
    {"get_event_loop_policy", "set_event_loop_policy", "AbstractEventLoopPolicy",
     "DefaultEventLoopPolicy"}
)
AWAITEST_IMPORTED_BEFORE = "awaitest" in sys.modules

for name in REMOVED:
    vars(asyncio).pop(name, None)
_lazy = getattr(asyncio, "__getattr__", None)  # Python 3.14's deprecated names


def __getattr__(name):
    if name in REMOVED or _lazy is None:
        raise AttributeError(f"module 'asyncio' has no attribute {name!r} (removed for this run)")
    return _lazy(name)


asyncio.__getattr__ = __getattr__
"""

CONFTEST = """
import asyncio
import pytest_asyncio

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_loop():
    yield asyncio.get_running_loop()

@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_loop():
    return asyncio.get_running_loop()
"""

SUITE = """
import asyncio
import sys
import pytest

async def test_sleeps():
    task = asyncio.create_task(asyncio.sleep(0.01))
    await task

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop(module_loop):
    assert asyncio.get_running_loop() is module_loop

@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop(session_loop):
    assert asyncio.get_running_loop() is session_loop

@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_virtual_time(virtual_clock):
    await asyncio.sleep(3600)
    assert virtual_clock.time() == 3600

async def test_event_loop_fixture(event_loop):
    assert event_loop is asyncio.get_running_loop()

async def test_event_loop_policy_fixture(event_loop_policy):
    assert event_loop_policy.get_event_loop() is asyncio.get_running_loop()

def test_sync_code_still_runs_loops():
    assert asyncio.run(asyncio.sleep(0, "done")) == "done"
"""

#: The suite's async tests, each run once per factory; the virtual clock test on asyncio only.
ASYNC_TESTS = 6


def factories() -> list[str]:
    names = ["asyncio", "uvloop"]
    if sys.version_info >= (3, 12):
        names.append("asyncio-eager")
    return names


def make_suite(pytester: pytest.Pytester) -> int:
    """The suite, in auto mode, on every factory; returns how many tests pass."""
    pytester.makeini(
        f"[pytest]\nasyncio_mode = auto\nasyncio_loop_factories = {' '.join(factories())}\n"
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    runs = len(factories())
    return (ASYNC_TESTS - 1) * runs + 1 + 1  # virtual_clock on asyncio only; one sync test


def test_runs_without_the_policy_api(pytester: pytest.Pytester) -> None:
    passed = make_suite(pytester)
    pytester.makepyfile(no_policy_api=NO_POLICY_API)
    pytester.makepyfile(
        test_order="""
        import no_policy_api

        def test_asyncio_lost_its_policy_api_before_awaitest_was_imported():
            assert not no_policy_api.AWAITEST_IMPORTED_BEFORE
        """
    )
    result = pytester.runpytest_subprocess("-p", "no_policy_api", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=passed + 1)
    result.stdout.fnmatch_lines(
        [
            "*::test_sleeps[[]asyncio[]] PASSED*",
            "*::test_sleeps[[]uvloop[]] PASSED*",
            "*::test_virtual_time PASSED*",
            "*::test_event_loop_policy_fixture[[]uvloop[]] PASSED*",
            "*::test_sync_code_still_runs_loops PASSED*",
        ],
        consecutive=False,
    )


def test_no_deprecation_warning_from_awaitest(pytester: pytest.Pytester) -> None:
    """Run on each Python CI runs (3.11, 3.12, 3.13): nothing awaitest calls is deprecated."""
    passed = make_suite(pytester)
    result = pytester.runpytest_subprocess(
        "-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning"
    )
    result.assert_outcomes(passed=passed)


def test_sync_test_asking_the_stand_in_for_a_loop_gets_a_runtime_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        def test_sync(event_loop_policy):
            asyncio.set_event_loop(None)
            with pytest.raises(RuntimeError) as raised:
                event_loop_policy.get_event_loop()
            print("error:", raised.value)
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*error: there is no current event loop (no async test is being run)"]
    )
