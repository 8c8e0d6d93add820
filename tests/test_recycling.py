"""Function-scoped loops are new asyncio loops every time, cheap to make, and leak nothing."""

from __future__ import annotations

import sys

import pytest
from _helpers import run_verbose

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="counts descriptors in /proc/self/fd"
)

NEW_LOOP_EVERY_TEST = """
import asyncio
import os

import pytest

# One loop per test is what this checks; concurrent tests share their batch's loop.
pytestmark = pytest.mark.awaitest(concurrent=False)

SEEN = []
FDS = []

@pytest.mark.asyncio
@pytest.mark.parametrize("n", range(30))
async def test_loop(n):
    loop = asyncio.get_running_loop()
    assert type(loop) is asyncio.SelectorEventLoop
    assert all(old is not loop and old.is_closed() for old in SEEN)
    SEEN.append(loop)
    FDS.append(len(os.listdir("/proc/self/fd")))
    await asyncio.sleep(0)

def test_descriptors():
    print("descriptors", FDS[1], FDS[-1])
    assert FDS[-1] == FDS[1]
"""


def test_every_test_gets_a_new_asyncio_loop_and_no_descriptor_leaks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(NEW_LOOP_EVERY_TEST)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=31)
    result.stdout.re_match_lines([r".*descriptors (\d+) \1$"])


LEFT_REGISTERED = """
import asyncio
import os
import socket

import pytest

# What a test leaves on its own loop is what this checks; concurrent tests share their batch's.
pytestmark = pytest.mark.awaitest(concurrent=False)

PAIR = socket.socketpair()
GOT = []

@pytest.fixture(scope="module", autouse=True)
def close_pair():
    yield
    for sock in PAIR:
        sock.close()

@pytest.mark.asyncio
async def test_leaves_a_reader():
    asyncio.get_running_loop().add_reader(PAIR[0].fileno(), GOT.append, "old loop")

@pytest.mark.asyncio
async def test_next_loop_does_not_see_it():
    PAIR[1].send(b"x")
    await asyncio.sleep(0.05)
    assert GOT == []

@pytest.mark.asyncio
async def test_signal_handler_left_behind():
    import signal
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, GOT.append, "signal")

@pytest.mark.asyncio
async def test_after_it_loops_still_work():
    await asyncio.wait_for(asyncio.sleep(0.01), timeout=1)
    assert GOT == []
"""


def test_a_loop_left_with_a_reader_or_signal_handler_is_closed_the_usual_way(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(LEFT_REGISTERED)
    assert run_verbose(pytester) == {
        "test_leaves_a_reader": "PASSED",
        "test_next_loop_does_not_see_it": "PASSED",
        "test_signal_handler_left_behind": "PASSED",
        "test_after_it_loops_still_work": "PASSED",
    }


WAKE_UP_LEFT_IN_THE_PIPE = """
import asyncio
import os

import pytest
import pytest_asyncio

# One loop per test is what this checks; concurrent tests share their batch's loop.
pytestmark = pytest.mark.awaitest(concurrent=False)

CALLED = []
PIPES = []

@pytest_asyncio.fixture
async def loop():
    return asyncio.get_running_loop()

@pytest.fixture
def poke(loop):
    yield
    # after the test's last step and before its loop closes: nothing reads this wake-up byte
    loop.call_soon_threadsafe(CALLED.append, "old loop")
    PIPES.append(loop._ssock)

@pytest.mark.asyncio
async def test_pokes(poke):
    pass

@pytest.mark.asyncio
async def test_next_loop():
    loop = asyncio.get_running_loop()
    assert loop._ssock is PIPES[0]  # the first loop's self-pipe, wake-up byte and all
    for _ in range(3):
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.sleep(0.01), timeout=1)
    assert CALLED == []
"""


def test_a_wake_up_left_in_a_reused_self_pipe_is_only_a_spurious_wake_up(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(WAKE_UP_LEFT_IN_THE_PIPE)
    assert run_verbose(pytester) == {"test_pokes": "PASSED", "test_next_loop": "PASSED"}


POLICY_CONFTEST = """
import asyncio

class Loop(asyncio.SelectorEventLoop):
    pass

class Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return Loop()

asyncio.set_event_loop_policy(Policy())
"""


def test_a_policy_installed_by_a_conftest_still_makes_the_loops(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(POLICY_CONFTEST)
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.parametrize("n", range(3))
        async def test_loop_class(n):
            print("loop class", type(asyncio.get_running_loop()).__name__)
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*loop class Loop*"] * 3)
