"""A test that freezes or moves time (freezegun, time-machine) gets no false finding, and its
real hangs and blocks are still caught, timed in real time; the clock is injectable."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from typing import Any

import freezegun
import pytest
from _helpers import ini

from awaitest import _checks
from awaitest._checks.deadlines import Deadline, StepTimeout

#: A regression that hangs fails the test (and ends its process) instead of hanging the
#: suite; a timer thread, not SIGALRM, so the runs inside keep SIGALRM free for awaitest.
HANG_GUARD = pytest.mark.timeout(60, method="thread")

#: The body of a ``mocked_clock()`` context manager, one per way suites move time.
MOCKED_CLOCKS = {
    "freezegun-tick": """
        with freezegun.freeze_time("2020-01-01", tick=True):
            yield
    """,
    "freezegun-tick-jump": """
        with freezegun.freeze_time("2020-01-01", tick=True) as frozen:
            frozen.tick(3600)
            yield
    """,
    # a suite's own ignore list replaces freezegun's, which has "threading" in it
    "freezegun-own-ignore-list": """
        freezegun.configure(default_ignore_list=["the_project_under_test"])
        try:
            with freezegun.freeze_time("2020-01-01", tick=True):
                yield
        finally:
            freezegun.config.reset_config()
    """,
    "freezegun-real-asyncio": """
        with freezegun.freeze_time("2020-01-01", real_asyncio=True):
            yield
    """,
    "time-machine-travel": """
        with time_machine.travel("2020-01-01"):
            yield
    """,
    "time-machine-shift": """
        with time_machine.travel("2020-01-01") as traveller:
            traveller.shift(3600)
            yield
    """,
}

HEADER = """
import asyncio
import contextlib
import time

import freezegun
import pytest
import pytest_asyncio
import time_machine


@contextlib.contextmanager
def mocked_clock():
{body}

@pytest.fixture
def mocked():  # as pytest-freezer's and time-machine's fixtures do: setup to teardown
    with mocked_clock():
        yield
"""


def write_suite(pytester: pytest.Pytester, clock: str, tests: str) -> list[str]:
    """Write test_clocks.py with ``mocked_clock()`` for ``clock``; return its lines."""
    body = textwrap.indent(textwrap.dedent(MOCKED_CLOCKS[clock]).strip(), "    ")
    source = HEADER.format(body=body) + textwrap.dedent(tests)
    pytester.makepyfile(test_clocks=source)
    return source.strip().splitlines()


def line(lines: list[str], text: str, after: str = "") -> int:
    """The number of the first line holding ``text`` (after the line holding ``after``)."""
    start = next(n for n, found in enumerate(lines) if after in found)
    return next(n for n, found in enumerate(lines) if n >= start and text in found) + 1


@HANG_GUARD
@pytest.mark.parametrize("clock", MOCKED_CLOCKS)
def test_mocked_clock_gives_no_false_finding(pytester: pytest.Pytester, clock: str) -> None:
    ini(pytester, asyncio_blocking_threshold="0.5", asyncio_timeout="5")
    write_suite(
        pytester,
        clock,
        """
        @pytest_asyncio.fixture
        async def resource():
            await asyncio.sleep(0.3)
            yield
            await asyncio.sleep(0.3)

        @pytest.mark.asyncio
        async def test_mocked_from_setup_to_teardown(mocked, resource):
            await asyncio.sleep(0.3)

        @pytest.mark.asyncio
        async def test_mocked_inside_the_test(resource):
            with mocked_clock():
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.3)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*held the event loop*")
    result.stdout.no_fnmatch_line("*timed out*")


@HANG_GUARD
@pytest.mark.parametrize("clock", MOCKED_CLOCKS)
def test_hangs_under_a_mocked_clock_time_out_after_the_real_deadline(
    pytester: pytest.Pytester, clock: str
) -> None:
    """The short sleep ends before the deadline and the endless wait doesn't: the deadline fired
    after 0.2 real seconds and before forever. The teardown's deadline (a fresh allowance, set
    while the clock is mocked) fires too."""
    ini(pytester, asyncio_timeout="1")
    lines = write_suite(
        pytester,
        clock,
        """
        @pytest_asyncio.fixture
        async def resource():
            yield
            await asyncio.Event().wait()

        @pytest.mark.asyncio
        async def test_waits(mocked, resource):
            await asyncio.sleep(0.2)
            await asyncio.Event().wait()

        @pytest.mark.asyncio
        async def test_next():
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, errors=1, passed=1)
    teardown = line(lines, "Event().wait()", after="async def resource")
    waits = line(lines, "Event().wait()", after="async def test_waits")
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_waits _*",
            "timed out after 1 s (asyncio_timeout = 1); pending tasks at that moment:",
            "Task * async fixture resource():",
            f'  File "*test_clocks.py", line {teardown}, in resource',
            "    await asyncio.Event().wait()",
            "*_ test_waits _*",
            "timed out after 1 s (asyncio_timeout = 1); pending tasks at that moment:",
            "Task * running test_waits():",
            f'  File "*test_clocks.py", line {waits}, in test_waits',
            "    await asyncio.Event().wait()",
        ]
    )


@HANG_GUARD
@pytest.mark.parametrize("clock", MOCKED_CLOCKS)
def test_blocking_under_a_mocked_clock_reports_the_real_duration(
    pytester: pytest.Pytester, clock: str
) -> None:
    ini(pytester, asyncio_blocking_threshold="0.2")
    lines = write_suite(
        pytester,
        clock,
        """
        @pytest.mark.asyncio
        async def test_blocks(mocked):
            time.sleep(0.5)
            await asyncio.sleep(0)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    blocks = line(lines, "time.sleep(0.5)")
    result.stdout.fnmatch_lines(
        [
            # one digit of seconds: the 0.5 s sleep, not the years a mocked clock jumped
            "test_blocks held the event loop for at least [0-9].[0-9][0-9] s without yielding "
            "(asyncio_blocking_threshold = 0.2 s); it was blocked in:",
            f'  File "*test_clocks.py", line {blocks}, in test_blocks',
            "    time.sleep(0.5)",
        ]
    )


# -- the clock is injected: unit tests on a plain loop, no real waiting --------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def idle_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watchdog thread waits an hour between looks: the test calls ``tick`` itself."""
    monkeypatch.setattr(_checks, "WATCH_PERIOD", 3600.0)


def run_step(
    loop: asyncio.AbstractEventLoop, window: _checks.Window, body: Any, clock: FakeClock
) -> None:
    """Run ``body(step)`` as one watched step of ``window`` on ``loop``."""
    step: list[_checks.Step] = []

    async def main() -> None:
        await body(step[0])

    task = loop.create_task(main())
    watched = window.step(loop, task, {}, tracked=True)
    assert isinstance(watched, _checks.Step)
    step.append(watched)
    with watched:
        loop.run_until_complete(task)


@pytest.mark.usefixtures("idle_watchdog")
def test_blocking_is_measured_on_the_injected_clock(loop: asyncio.AbstractEventLoop) -> None:
    clock = FakeClock()
    monitor = _checks.Monitor(_checks.Policy(blocking_threshold=1000.0), clock=clock)
    window = monitor.open("test_x", None)

    async def body(step: _checks.Step) -> None:
        clock.now = 300.0  # a quarter threshold in: the watchdog pings the loop
        step.tick(clock(), monitor.alarm)
        clock.now = 1300.0  # the ping still unanswered a threshold later: sample the stack
        step.tick(clock(), monitor.alarm)
        await asyncio.sleep(0)  # the loop answers the ping, 1000 s late on the injected clock

    try:
        run_step(loop, window, body, clock)
        [finding] = window.take()
    finally:
        window.close()
        monitor.stop()
    assert finding.kind == "blocking"
    assert finding.message.startswith(
        "test_x held the event loop for at least 1000.00 s without yielding "
        "(asyncio_blocking_threshold = 1000 s); it was blocked in:\n"
    )


@pytest.mark.usefixtures("idle_watchdog")
def test_deadlines_are_measured_on_the_injected_clock(loop: asyncio.AbstractEventLoop) -> None:
    clock = FakeClock()
    monitor = _checks.Monitor(_checks.Policy(), clock=clock)
    window = monitor.open("test_x", Deadline(600.0, "asyncio_timeout = 600"))
    assert window.deadline_at == 600.0

    async def body(step: _checks.Step) -> None:
        clock.now = 599.0
        step.tick(clock(), monitor.alarm)  # not yet
        await asyncio.sleep(0)
        clock.now = 600.0
        step.tick(clock(), monitor.alarm)  # due: the expiry is posted to the loop
        await asyncio.Event().wait()

    try:
        with pytest.raises(StepTimeout, match=r"^timed out after 600 s \(asyncio_timeout = 600\)"):
            run_step(loop, window, body, clock)
        assert window.deadline_at == 1200.0  # the teardown's fresh allowance, from "now"
    finally:
        window.close()
        monitor.stop()


def test_the_default_clock_is_out_of_reach_of_time_mocking() -> None:
    monitor = _checks.Monitor(_checks.Policy())
    before = monitor.clock()
    with freezegun.freeze_time("2020-01-01", tick=True):
        during = monitor.clock()
    assert 0 <= during - before < 60  # the fake clock is some 1.6e9 s from the real one


def test_let_finish_waits_in_real_time_when_the_loop_clock_is_frozen(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_at = loop.time()
    monkeypatch.setattr(loop, "time", lambda: frozen_at)  # freezegun without real_asyncio
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # ignores the cancellation: only the grace period ends the wait

    async def polite() -> None:
        await asyncio.Event().wait()

    tasks = [loop.create_task(stubborn()), loop.create_task(polite())]
    loop.run_until_complete(asyncio.sleep(0))
    for task in tasks:
        task.cancel()
    _checks.let_finish(loop, tasks, 0.05)
    assert [task.done() for task in tasks] == [False, True]
    release.set()
    loop.run_until_complete(tasks[0])


def test_let_finish_returns_once_the_tasks_are_done(loop: asyncio.AbstractEventLoop) -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    tasks = [loop.create_task(quick()) for _ in range(3)]
    _checks.let_finish(loop, tasks, 3600.0)  # must not wait for the grace period
    assert all(task.done() for task in tasks)


@HANG_GUARD
def test_concurrent_tests_that_mock_the_clock_get_the_outcomes_they_get_alone(
    pytester: pytest.Pytester,
) -> None:
    """A fixture that mocks the clock from setup to teardown: no test starts beside its test
    (the loop's time moves for every test on it); freeze_time in a test's own code: it runs
    alone. A helper it calls can't be seen: the test after them still passes, alone in its
    batch since the fixture's test was finished first."""
    ini(pytester, asyncio_mode="auto", asyncio_timeout="5")
    write_suite(
        pytester,
        "freezegun-tick",
        """
        pytestmark = pytest.mark.awaitest(concurrent=True)

        @pytest_asyncio.fixture
        async def resource():
            await asyncio.sleep(0.3)
            yield
            await asyncio.sleep(0.3)

        async def test_mocked_from_setup_to_teardown(mocked, resource):
            await asyncio.sleep(0.3)

        async def test_mocked_inside_the_test(resource):
            with mocked_clock():
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.3)

        async def test_freezes_itself():
            with freezegun.freeze_time("2020-01-01", tick=True):
                await asyncio.sleep(0.3)
        """,
    )
    result = pytester.runpytest("-v", "-p", "no:randomly", "--asyncio-concurrency=4")
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*timed out*")
    result.stdout.fnmatch_lines(
        [
            "*= awaitest concurrency =*",
            "test_clocks.py::test_freezes_itself ran alone: it calls freeze_time()",
            "concurrency: 2 tests ran concurrently (at most 1 at once), 1 ran alone",
        ]
    )
