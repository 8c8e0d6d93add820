"""The checks' ``Window`` on its own: steps run on a plain loop, findings read back, no pytest run.

Nothing sleeps for real and no watchdog thread runs: the monitor is given a clock these tests
move by hand (``Monitor(clock=...)``), and the watchdog is replaced by one that lets the test
call ``Step.tick`` itself, as the thread would.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fnmatch
import os
import sys
import warnings
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import pytest

from awaitest import _checks
from awaitest._checks import Clock, Finding, Hosts, Monitor, Policy, Step, Watchdog, Window
from awaitest._checks.batch import Shared
from awaitest._checks.blame import Places
from awaitest._checks.deadlines import Deadline, StepTimeout

HERE = os.path.relpath(__file__)  # how the checks show this file: relative to the cwd
NO_HOSTS: Hosts = {}


async def save() -> None:
    await asyncio.sleep(0)


def drop(coro: Coroutine[Any, Any, Any]) -> None:
    """Let go of the last reference to ``coro``: in this frame, for the checks."""
    del coro


class FakeClock:
    """The monitor's clock, moved by hand: calling it reads ``now``."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ManualWatchdog:
    """Stands in for the watchdog thread: it only records the step it would look at."""

    def __init__(self) -> None:
        self.step: Step | None = None

    def watch(self, step: Step) -> None:
        self.step = step

    def unwatch(self, step: Step) -> None:
        if self.step is step:
            self.step = None

    def stop(self) -> None:
        pass


class ManualMonitor(Monitor):
    def __init__(self, policy: Policy, clock: Clock | None) -> None:
        # the project: this directory (blame's evidence for loop errors)
        super().__init__(policy, clock=clock, places=Places((os.path.dirname(__file__),)))
        self.manual = ManualWatchdog()

    def watchdog(self, threshold: float = 0.0) -> Watchdog:
        return cast(Watchdog, self.manual)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@contextlib.contextmanager
def watching(
    policy: Policy | None = None, deadline: Deadline | None = None, clock: Clock | None = None
) -> Iterator[Window]:
    """A window open on test ``test_x`` (timed by ``clock``, real time by default), closed (and
    its monitor stopped) afterwards."""
    monitor = ManualMonitor(policy or Policy(), clock)
    window = monitor.open("test_x", deadline)
    try:
        yield window
    finally:
        window.close()
        monitor.stop()


def run_step(
    window: Window,
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any],
    *,
    tracked: bool = True,
    hosts: Hosts = NO_HOSTS,
) -> Any:
    """What the runner does for one step: the task, then ``run_until_complete`` in the step."""
    task = loop.create_task(coro)
    with window.step(loop, task, hosts, tracked=tracked):
        return loop.run_until_complete(task)


def matches(finding: Finding, kind: str, severity: str, *lines: str) -> bool:
    return (finding.kind, finding.severity) == (kind, severity) and fnmatch.fnmatchcase(
        finding.message, "\n".join(lines)
    )


# -- windows ---------------------------------------------------------------------------------


def test_the_active_window_is_the_innermost_open_one() -> None:
    assert _checks.active() is None
    with watching() as outer:
        assert _checks.active() is outer
        with watching() as inner:
            assert _checks.active() is inner
        assert _checks.active() is outer
        outer.close()
        outer.close()
        assert _checks.active() is None


def test_a_window_without_deadline_or_blocking_check_uses_one_plain_step(
    loop: asyncio.AbstractEventLoop,
) -> None:
    task = loop.create_future()
    with watching() as window:
        first = window.step(loop, task, NO_HOSTS, tracked=True)
        assert not isinstance(first, Step)
        assert window.step(loop, task, NO_HOSTS, tracked=True) is first
    with watching(Policy(blocking_threshold=0.2)) as window:
        assert isinstance(window.step(loop, task, NO_HOSTS, tracked=True), Step)


def test_suppressed_timeouts_open_windows_without_a_deadline() -> None:
    monitor = Monitor(Policy())
    monitor.timeouts_suppressed = True  # a debugger was entered
    window = monitor.open("test_x", Deadline(1, "asyncio_timeout = 1"))
    window.close()
    assert window.deadline is None
    assert window.deadline_at is None


def test_the_tasks_a_window_noted_are_read_whole_while_one_is_being_noted() -> None:
    """The watchdog thread reads a window's noted tasks while the main thread may be halfway
    through noting one (three entries): that one is left out, the others keep their lines."""
    loop = asyncio.new_event_loop()
    try:
        first = loop.create_task(asyncio.sleep(0))
        second = loop.create_task(asyncio.sleep(0))
        window = Monitor(Policy()).open("test_x", None)
        code = sys._getframe().f_code
        window._candidates += [weakref.ref(first), code, 10, weakref.ref(second), None, 0]
        window._candidates.append(weakref.ref(second))  # the next task, caught halfway
        assert [(ref(), creator) for ref, creator in window.created()] == [
            (first, (code, 10)),
            (second, None),
        ]
        window.close()
        loop.run_until_complete(asyncio.gather(first, second))
    finally:
        loop.close()


# -- missing await ---------------------------------------------------------------------------


def test_a_coroutine_dropped_unawaited_is_found_where_it_was_dropped() -> None:
    with watching() as window:
        coro = save()
        line = sys._getframe().f_lineno + 1
        del coro
        assert not window.quiet()
        [finding] = window.take()
        assert window.take() == []
        assert window.quiet()
    assert finding == Finding(
        "unawaited",
        "error",
        f"coroutine save() was never awaited; dropped at {HERE}:{line} "
        "(in test_a_coroutine_dropped_unawaited_is_found_where_it_was_dropped), usually the "
        "line that called it.\nAdd 'await' before the call, or hand it to asyncio.create_task() "
        "and await the task (asyncio_unawaited = error).\nOn purpose? Expect it with "
        "pytest.warns(RuntimeWarning), or mark the test: "
        '@pytest.mark.awaitest(unawaited="ignore")',
    )


def test_the_same_drop_twice_is_one_finding_that_counts() -> None:
    with watching(Policy(unawaited="warn")) as window:
        for _ in range(2):
            coro = save()
            del coro
        [finding] = window.take()
    assert matches(finding, "unawaited", "warn", "coroutine save() was never awaited (2 times);*")


def test_with_origin_tracking_the_creation_line_is_given() -> None:
    depth = sys.get_coroutine_origin_tracking_depth()
    sys.set_coroutine_origin_tracking_depth(5)
    try:
        with watching() as window:
            line = sys._getframe().f_lineno + 1
            coro = save()
            del coro
            [finding] = window.take()
    finally:
        sys.set_coroutine_origin_tracking_depth(depth)
    assert matches(
        finding,
        "unawaited",
        "error",
        f"coroutine save() was never awaited; created at {HERE}:{line} "
        "(in test_with_origin_tracking_the_creation_line_is_given).",
        "*",
    )


def test_ignored_or_closed_windows_leave_pythons_warning_alone() -> None:
    with watching(Policy(unawaited="ignore")) as window:
        with pytest.warns(RuntimeWarning, match="^coroutine 'save' was never awaited$"):
            drop(save())
        assert window.take() == []
    with watching() as window:
        pass
    with pytest.warns(RuntimeWarning, match="^coroutine 'save' was never awaited$"):
        drop(save())
    assert window.take() == []


# -- leaked tasks ----------------------------------------------------------------------------


async def starts_a_worker(seconds: float = 3600) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(asyncio.sleep(seconds))


def test_a_task_left_pending_after_teardown_is_a_leak_and_is_cancelled(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with watching() as window:
        worker = run_step(window, loop, starts_a_worker())
        assert window.quiet()  # a test may stop it in its teardown: not a leak yet
        window.settle()
        [finding] = window.take()
    assert worker.cancelled()
    assert matches(
        finding,
        "leak",
        "warn",
        "test_x left 1 task pending after its teardown; awaitest cancelled it "
        "(asyncio_task_leaks = warn):",
        # (the name: 'None' on Python 3.13.0, whose create_task names every task made by a
        # task factory after its name argument)
        f"  Task '*' running sleep(), created at {HERE}:* (in starts_a_worker), waiting at *",
        "Await each task before the test ends, or cancel and await it in a fixture's teardown.",
        'Meant to outlive the test? Mark the test: @pytest.mark.awaitest(task_leaks="ignore")',
    )


def test_a_leak_says_which_line_of_the_project_it_waits_on(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def starts_deep() -> None:
        asyncio.get_running_loop().create_task(waits_in_a_helper(), name="deep")
        await asyncio.sleep(0)

    with watching() as window:
        run_step(window, loop, starts_deep())
        window.settle()
        [finding] = window.take()
    assert matches(
        finding,
        "leak",
        "warn",
        "test_x left 1 task pending after its teardown; awaitest cancelled it "
        "(asyncio_task_leaks = warn):",
        f"  Task 'deep' running waits_in_a_helper(), created at {HERE}:{_line(starts_deep)} "
        f"(in starts_deep), waiting at {HERE}:{_line(waits_deeper)} (in waits_deeper)",
        "*",
    )


def test_tasks_that_are_not_the_tests_are_not_leaks(loop: asyncio.AbstractEventLoop) -> None:
    hosts: dict[asyncio.Task[Any], object] = {}  # the runner's, for every step on its loop
    with watching(Policy(task_leaks="error")) as window:
        # a session fixture's setup: its tasks may outlive the test
        wider = run_step(window, loop, starts_a_worker(), tracked=False, hosts=hosts)
        # a generator fixture's task, parked between setup and teardown on purpose
        hosted = run_step(window, loop, starts_a_worker(), hosts=hosts)
        hosts[hosted] = "the fixture's async generator"
        finished = run_step(window, loop, starts_a_worker(0), hosts=hosts)
        run_step(window, loop, asyncio.wait([finished]), hosts=hosts)
        window.settle()
        assert window.take() == []
    assert not wider.done()
    assert not hosted.done()
    wider.cancel()
    hosted.cancel()
    loop.run_until_complete(asyncio.wait([wider, hosted]))


def test_a_loop_closing_during_the_test_is_searched_for_leaks_first(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with watching(Policy(task_leaks="error")) as window:
        run_step(window, loop, starts_a_worker())
        window.loop_closing(loop, NO_HOSTS)
        window.settle()  # the loop is not searched twice
        [finding] = window.take()
    assert matches(finding, "leak", "error", "test_x left 1 task pending*")


def test_ignored_leaks_are_not_tracked(loop: asyncio.AbstractEventLoop) -> None:
    with watching(Policy(task_leaks="ignore")) as window:
        worker = run_step(window, loop, starts_a_worker())
        window.settle()
        assert window.take() == []
    assert not worker.done()
    worker.cancel()
    loop.run_until_complete(asyncio.wait([worker]))


# -- pending tasks at a failure -------------------------------------------------------------


async def waits_deeper() -> None:
    await asyncio.sleep(3600)


async def waits_in_a_helper() -> None:
    await waits_deeper()


def _line(function: Any, offset: int = 1) -> int:
    """A line of ``function``: its ``def`` line plus ``offset``."""
    return int(function.__code__.co_firstlineno) + offset


async def starts_and_fails(*names: str) -> None:
    """Starts a task per name (each waits two calls deep), lets them run, and fails; one more
    task is created by a callback that runs after the failure, too late to start."""
    loop = asyncio.get_running_loop()
    started = []
    for name in names:
        started.append(loop.create_task(waits_in_a_helper(), name=name))
    await asyncio.sleep(0)
    assert not any(task.done() for task in started)
    loop.call_soon(lambda: loop.create_task(waits_deeper(), name="late"))
    raise KeyError("the test failed")


def failing_step(
    window: Window,
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, Any],
    *,
    tracked: bool = True,
    hosts: Hosts = NO_HOSTS,
) -> BaseException:
    """A step that raises, and what the runner does then: tell the window. Returns the error."""
    try:
        run_step(window, loop, coro, tracked=tracked, hosts=hosts)
    except BaseException as exc:
        window.step_failed(loop, hosts, exc)
        return exc
    raise AssertionError("the step did not fail")


def cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.wait(tasks))


def test_a_failing_step_notes_the_tests_pending_tasks_and_the_line_each_waits_on(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with watching() as window:
        failed = failing_step(window, loop, starts_and_fails("b", "a"))
        found = window.pending_at(failed)
        assert window.pending_at(failed) is None  # taken once
    created = f"{HERE}:{_line(starts_and_fails, 6)} (in starts_and_fails)"
    waiting = f"{HERE}:{_line(waits_deeper)} (in waits_deeper)"
    assert found == (
        3,
        [
            f"Task 'a' running waits_in_a_helper(), created at {created}, waiting at {waiting}",
            f"Task 'b' running waits_in_a_helper(), created at {created}, waiting at {waiting}",
            f"Task 'late' running waits_deeper(), created at {HERE}:{_line(starts_and_fails, 9)} "
            "(in <lambda>), not started yet",
        ],
    )
    cancel_all(loop)


def test_only_the_tests_own_pending_tasks_are_listed(loop: asyncio.AbstractEventLoop) -> None:
    hosts: dict[asyncio.Task[Any], object] = {}
    with watching() as window:
        run_step(window, loop, starts_a_worker(), tracked=False, hosts=hosts)  # a wider fixture's
        hosted = run_step(window, loop, starts_a_worker(), hosts=hosts)
        hosts[hosted] = "the fixture's async generator"
        finished = run_step(window, loop, starts_a_worker(0), hosts=hosts)
        run_step(window, loop, asyncio.wait([finished]), hosts=hosts)
        failed = failing_step(window, loop, starts_and_fails(), hosts=hosts)
        found = window.pending_at(failed)
    assert found is not None
    assert [line.split(" running")[0] for line in found[1]] == ["Task 'late'"]
    cancel_all(loop)


def test_no_pending_task_is_no_note(loop: asyncio.AbstractEventLoop) -> None:
    async def fails() -> None:
        raise KeyError("alone")

    with watching() as window:
        failed = failing_step(window, loop, fails())
        assert window.failure is None
        assert window.pending_at(failed) is None


@pytest.mark.parametrize(
    "exc",
    [StepTimeout("its report has the stacks"), KeyboardInterrupt(), SystemExit(1)],
    ids=["timeout", "ctrl-c", "exit"],
)
def test_a_timeout_or_an_interruption_is_not_noted(
    loop: asyncio.AbstractEventLoop, exc: BaseException
) -> None:
    with watching() as window:
        run_step(window, loop, starts_a_worker())
        window.step_failed(loop, NO_HOSTS, exc)
        assert window.failure is None
    cancel_all(loop)


def test_switched_off_nothing_is_noted(loop: asyncio.AbstractEventLoop) -> None:
    with watching(Policy(pending_on_failure=False)) as window:
        failed = failing_step(window, loop, starts_and_fails("a"))
        assert window.pending_at(failed) is None
    cancel_all(loop)


def test_with_every_check_that_tracks_tasks_off_the_list_still_tracks_them(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with watching(Policy(task_leaks="ignore", loop_errors="ignore")) as window:
        failed = failing_step(window, loop, starts_and_fails("a"))
        found = window.pending_at(failed)
    assert found is not None
    assert found[0] == 2
    cancel_all(loop)


def test_the_note_belongs_to_the_failure_that_holds_the_steps_exception(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with watching() as window:
        failed = failing_step(window, loop, starts_and_fails("a"))
        assert window.pending_at(KeyError("another failure")) is None
        wrapped = RuntimeError("pytest.fail() raised while handling it")
        wrapped.__context__ = failed
        assert window.pending_at(BaseExceptionGroup("teardowns", [ValueError(), wrapped]))
        assert window.pending_at(failed) is None
    cancel_all(loop)


def test_a_long_list_ends_with_how_many_more(loop: asyncio.AbstractEventLoop) -> None:
    names = [f"worker-{n:02d}" for n in range(14)]
    with watching() as window:
        failed = failing_step(window, loop, starts_and_fails(*names))
        found = window.pending_at(failed)
    assert found is not None
    count, lines = found
    assert count == 15
    assert len(lines) == 11
    assert lines[0].startswith("Task 'late' running")
    assert lines[-2].startswith("Task 'worker-08' running")
    assert lines[-1] == "and 5 more"
    cancel_all(loop)


# -- loop errors -----------------------------------------------------------------------------


async def reports_an_error() -> None:
    try:
        raise ValueError("lost in a callback")
    except ValueError as exc:
        asyncio.get_running_loop().call_exception_handler({"message": "boom", "exception": exc})


def test_what_reaches_the_loops_handler_is_a_finding(loop: asyncio.AbstractEventLoop) -> None:
    with watching() as window:
        run_step(window, loop, reports_an_error())
        [finding] = window.take()
    assert matches(
        finding,
        "loop_error",
        "error",
        "an exception reached the event loop's exception handler during the test "
        "(asyncio_loop_errors = error):",
        "boom",
        "Traceback (most recent call last):",
        "*",
        "ValueError: lost in a callback",
        "This project's own code reported it, calling loop.call_exception_handler() at "
        f"{HERE}:* (in reports_an_error). If that is how the project reports an error it has "
        "handled, a test that provokes one should say so: mark it "
        '@pytest.mark.awaitest(loop_errors="ignore")',
    )


def test_a_loop_error_is_passed_on_to_asyncios_handler(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with watching() as window:
        run_step(window, loop, reports_an_error())
        assert len(window.take()) == 1
    assert [record.getMessage() for record in caplog.records] == ["boom"]


def test_a_loop_error_nothing_ties_to_the_project_is_an_advisory(
    loop: asyncio.AbstractEventLoop,
) -> None:
    monitor = Monitor(Policy())  # no project directories: nothing here is the project's
    window = monitor.open("test_x", None)
    try:
        run_step(window, loop, reports_an_error())
        run_step(window, loop, reports_an_error())
        findings = window.take()
    finally:
        window.close()
        monitor.stop()
    assert findings == [
        Finding(
            "loop_error",
            "warn",
            f"an exception from {HERE} reached the event loop's exception handler: boom "
            "(ValueError: lost in a callback). Nothing ties it to this project's code, so no "
            "test failed for it; asyncio logged it, as it does without awaitest (the test's "
            "captured log has the traceback).",
        )
    ]  # once per test: the second, alike, adds nothing


def test_a_users_exception_handler_is_kept(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    loop.set_exception_handler(lambda _, context: seen.append(context["message"]))
    with watching() as window:
        run_step(window, loop, reports_an_error())
        assert window.take() == []
    assert seen == ["boom"]


def test_ignored_loop_errors_go_to_the_default_handler(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with watching(Policy(loop_errors="ignore")) as window:
        run_step(window, loop, reports_an_error())
        assert window.take() == []
    assert [record.getMessage() for record in caplog.records] == ["boom"]


# -- blocking --------------------------------------------------------------------------------


def tick_at(now: float, step: Step, window: Window, clock: FakeClock) -> None:
    """The watchdog thread looking at ``step`` at time ``now``."""
    clock.now = now
    step.tick(now, window.monitor.alarm)


def test_a_ping_answered_late_is_blocking_with_the_sampled_stack(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    with watching(Policy(blocking_threshold=0.2), clock=clock) as window:
        monitor = cast(ManualMonitor, window.monitor)
        task = loop.create_future()
        with window.step(loop, task, NO_HOSTS, tracked=True) as step:
            assert isinstance(step, Step)
            assert monitor.manual.step is step
            # a quarter of the threshold into the step: ping the loop
            tick_at(100.06, step, window, clock)
            # the ping is late: the stack of the main thread is sampled, at the next line
            line = sys._getframe().f_lineno + 1
            tick_at(100.3, step, window, clock)
            clock.now = 100.46
            loop.run_until_complete(asyncio.sleep(0))  # the loop answers, 0.40 s late
        assert monitor.manual.step is None
        [finding] = window.take()
    assert matches(
        finding,
        "blocking",
        "error",
        "test_x held the event loop for at least 0.40 s without yielding "
        "(asyncio_blocking_threshold = 0.2 s); it was blocked in:",
        "*",
        f'  File "{os.path.abspath(__file__)}", line {line}, in '
        "test_a_ping_answered_late_is_blocking_with_the_sampled_stack",
        "*",
        "Run blocking calls in a thread (await asyncio.to_thread(...)) or use an async library.",
        "Blocking on purpose? Mark the test: @pytest.mark.awaitest(blocking_threshold=0)",
    )


def test_a_ping_answered_in_time_is_nothing(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    with watching(Policy(blocking_threshold=0.2), clock=clock) as window:
        with window.step(loop, loop.create_future(), NO_HOSTS, tracked=True) as step:
            assert isinstance(step, Step)
            tick_at(100.06, step, window, clock)
            clock.now = 100.1
            loop.run_until_complete(asyncio.sleep(0))
        assert window.take() == []


def test_a_ping_unanswered_when_the_step_ends_is_blocking(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    with watching(Policy(blocking_threshold=0.2), clock=clock) as window:
        with window.step(loop, loop.create_future(), NO_HOSTS, tracked=True) as step:
            assert isinstance(step, Step)
            tick_at(100.06, step, window, clock)
            tick_at(100.3, step, window, clock)
            clock.now = 100.56  # the step ends before the loop ever ran the ping
        [finding] = window.take()
    assert matches(finding, "blocking", "error", "test_x held the event loop for at least 0.50 s*")


# -- deadlines -------------------------------------------------------------------------------


async def hangs() -> None:
    await asyncio.Event().wait()


#: The report of ``hangs()`` timed out after its 1 s deadline, as ``StepTimeout``'s message.
HANGS_TIMED_OUT = (
    "timed out after 1 s (asyncio_timeout = 1); pending tasks at that moment:\n"
    "Task 'Task-*' running hangs():\n"
    f'  File "*{os.path.basename(__file__)}", line *, in hangs\n'
    "    await asyncio.Event().wait()\n"
    "Needs longer? Mark the test: @pytest.mark.awaitest(timeout=2)"
)


def test_a_step_past_the_deadline_is_cancelled_and_times_out(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    with watching(deadline=Deadline(1, "asyncio_timeout = 1"), clock=clock) as window:
        assert window.deadline_at == 101.0
        monitor = window.monitor
        task = loop.create_task(hangs())
        step = window.step(loop, task, NO_HOSTS, tracked=True)
        assert isinstance(step, Step)
        with pytest.raises(StepTimeout) as caught, step:  # noqa: PT012 - the step ends in it
            step.tick(100.9, monitor.alarm)  # not yet
            clock.now = 101.0
            step.tick(clock.now, monitor.alarm)  # posts the expiry to the loop
            loop.run_until_complete(task)
        assert task.cancelled()
        assert window.deadline_at == 102.0  # a fresh allowance for the rest (teardown)
    assert fnmatch.fnmatchcase(str(caught.value), HANGS_TIMED_OUT)
    assert caught.value.__cause__ is None


# -- batches: several tests' tasks on one loop --------------------------------------------------


class Batch:
    """Two tests, ``test_a`` and ``test_b``, in flight together on ``loop``: each window opened
    in its test's own context, as the pytest side opens it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, monitor: Monitor, shared: Shared) -> None:
        self.loop = loop
        self.monitor = monitor
        self.shared = shared
        self.contexts = {name: contextvars.copy_context() for name in ("test_a", "test_b")}

    def open(self, name: str, deadline: Deadline | None = None) -> Window:
        return self.contexts[name].run(self.monitor.open, name, deadline)

    def start(self, window: Window, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self.shared.start(window, coro, self.contexts[window.name])

    def run(self, future: asyncio.Future[Any]) -> None:
        """One loop run of the batch, as the pytest side runs it."""
        with self.shared.step():
            self.loop.run_until_complete(future)

    def run_both(
        self, test_a: Coroutine[Any, Any, Any], test_b: Coroutine[Any, Any, Any]
    ) -> tuple[list[Finding], list[Finding]]:
        """Both tests started together, run until both are done, torn down: their findings."""
        windows = self.open("test_a"), self.open("test_b")
        tasks = [
            self.start(window, coro) for window, coro in zip(windows, (test_a, test_b), strict=True)
        ]
        self.run(asyncio.gather(*tasks, return_exceptions=True))
        for window in windows:
            self.shared.done(window)
        found_a, found_b = self.teardown(windows[0]), self.teardown(windows[1])
        return found_a, found_b

    def teardown(self, window: Window) -> list[Finding]:
        """After the test's teardown: its leaks, and everything else it found."""
        self.contexts[window.name].run(window.settle)
        found = window.take()
        window.close()
        return found


@contextlib.contextmanager
def batch(
    loop: asyncio.AbstractEventLoop, policy: Policy | None = None, clock: Clock | None = None
) -> Iterator[Batch]:
    monitor = ManualMonitor(policy or Policy(), clock)
    try:
        with Shared(monitor, loop) as shared:
            yield Batch(loop, monitor, shared)
    finally:
        monitor.stop()


def test_a_task_one_test_leaves_pending_is_that_tests_leak_only(
    loop: asyncio.AbstractEventLoop,
) -> None:
    b_set_up = asyncio.Event()

    async def test_a() -> None:
        await b_set_up.wait()  # test_b is being set up: its window is the one opened last
        asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="a-worker")

    async def test_b() -> None:
        helper = asyncio.get_running_loop().create_task(asyncio.sleep(0), name="b-helper")
        await helper  # its own task, awaited: no leak

    async def fixture_of_b() -> None:
        b_set_up.set()
        for _ in range(3):
            await asyncio.sleep(0)

    with batch(loop) as tests:
        window_a = tests.open("test_a")
        tests.start(window_a, test_a())
        window_b = tests.open("test_b")
        # a step of test_b's setup, in its context, during which test_a's task runs
        tests.contexts["test_b"].run(run_step, window_b, loop, fixture_of_b())
        task_b = tests.start(window_b, test_b())
        tests.run(task_b)
        assert tests.shared.outcome(window_b) is None
        assert tests.teardown(window_b) == []
        tests.shared.outcome(window_a)
        [finding] = tests.teardown(window_a)
    assert matches(
        finding,
        "leak",
        "warn",
        "test_a left 1 task pending after its teardown; awaitest cancelled it "
        "(asyncio_task_leaks = warn):",
        f"  Task 'a-worker' running sleep(), created at {HERE}:* (in test_a), waiting at *",
        "*",
    )


def test_a_loop_error_is_blamed_on_the_test_whose_callback_raised(
    loop: asyncio.AbstractEventLoop,
) -> None:
    def fails() -> None:
        raise ValueError("lost in test_b's callback")

    async def test_a() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    async def test_b() -> None:
        asyncio.get_running_loop().call_soon(fails)
        await asyncio.sleep(0)

    with batch(loop) as tests:
        # the callback runs while test_a's task is still running too
        found_a, [finding] = tests.run_both(test_a(), test_b())
    assert found_a == []
    assert matches(
        finding,
        "loop_error",
        "error",
        "an exception reached the event loop's exception handler during the test "
        "(asyncio_loop_errors = error):",
        "Exception in callback *fails*",
        "*",
        "ValueError: lost in test_b's callback",
        f"It comes from this project's code: *{HERE}:* (in fails)*",
        "Handle the error in the callback or protocol method that raises it.",
        'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
    )


def test_a_loop_error_nothing_ties_to_a_test_is_an_advisory_naming_the_tests_in_flight(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with batch(loop) as tests:
        window_a, window_b = tests.open("test_a"), tests.open("test_b")
        loop.call_exception_handler({"message": "from nowhere"})  # no task, handle, caller
        assert tests.teardown(window_b) == []
        [finding] = tests.teardown(window_a)
    assert finding == Finding(
        "loop_error",
        "warn",
        "an exception reached the event loop's exception handler while tests ran together on "
        "one loop (test_a, test_b): from nowhere. Nothing in it (a task, a callback, the code "
        "that reported it) tells which test's it is, so no test failed for it; asyncio logged "
        "it, as it does without awaitest. To find out whose it is, run these tests one at a "
        "time: --asyncio-concurrency 0",
    )


def test_a_coroutine_dropped_by_one_test_is_that_tests_finding(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def test_a() -> None:
        await asyncio.sleep(0)
        drop(save())

    with batch(loop) as tests:
        [finding], found_b = tests.run_both(test_a(), asyncio.sleep(0))
    assert found_b == []
    assert matches(finding, "unawaited", "error", "coroutine save() was never awaited; *")


def test_a_deadline_cancels_its_tests_task_and_not_the_other(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    go_on = asyncio.Event()

    async def test_b() -> str:
        await go_on.wait()
        return "b passed"

    with batch(loop, clock=clock) as tests:
        window_a = tests.open("test_a", Deadline(1, "asyncio_timeout = 1"))
        window_b = tests.open("test_b", Deadline(5, "asyncio_timeout = 5"))
        task_a = tests.start(window_a, hangs())
        task_b = tests.start(window_b, test_b())
        tests.run(loop.create_task(asyncio.sleep(0)))  # both tests wait
        tests.shared.tick(100.9, tests.monitor.alarm)  # not yet
        tests.shared.tick(101.0, tests.monitor.alarm)  # test_a's: posted to the loop
        tests.run(loop.create_task(asyncio.wait([task_a])))
        assert task_a.cancelled()
        assert not task_b.done()
        with pytest.raises(StepTimeout) as caught:
            tests.shared.outcome(window_a)
        go_on.set()
        tests.run(task_b)
        assert tests.shared.outcome(window_b) == "b passed"
        assert tests.teardown(window_a) == []
        assert tests.teardown(window_b) == []
    assert fnmatch.fnmatchcase(str(caught.value), HANGS_TIMED_OUT)


def test_a_test_late_because_another_holds_the_loop_says_which(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    tests: Batch

    async def test_b() -> None:
        await asyncio.sleep(0)
        for now in (101.0, 101.05):  # test_a's deadline passes while test_b holds the loop
            clock.now = now
            tests.shared.tick(now, tests.monitor.alarm)

    with batch(loop, clock=clock) as tests:
        window_a = tests.open("test_a", Deadline(1, "asyncio_timeout = 1"))
        window_b = tests.open("test_b")
        task_a = tests.start(window_a, hangs())
        task_b = tests.start(window_b, test_b())
        tests.run(loop.create_task(asyncio.wait([task_a, task_b])))
        with pytest.raises(StepTimeout) as caught:
            tests.shared.outcome(window_a)
        tests.shared.outcome(window_b)
        assert tests.teardown(window_a) == tests.teardown(window_b) == []
    assert str(caught.value).startswith(
        "timed out after 1 s (asyncio_timeout = 1) (late: test_b held the event loop past this "
        "test's deadline); pending tasks at that moment:\nTask 'Task-*' running hangs():".replace(
            "Task-*", task_a.get_name()
        )
    )


def test_blocking_is_blamed_on_the_test_whose_code_is_on_the_stack(
    loop: asyncio.AbstractEventLoop, clock: FakeClock
) -> None:
    tests: Batch

    def watchdog_looks(now: float) -> None:
        """The watchdog thread looking at the loop run at ``now``: this thread's stack."""
        clock.now = now
        tests.shared.tick(now, tests.monitor.alarm)

    async def test_a() -> None:
        await asyncio.sleep(0)

    async def test_b() -> None:
        watchdog_looks(100.06)  # a quarter of the threshold: ping the loop
        watchdog_looks(100.3)  # late: the main thread's stack is sampled, in test_b
        clock.now = 100.46
        await asyncio.sleep(0)

    with batch(loop, Policy(blocking_threshold=0.2), clock) as tests:
        found_a, [finding] = tests.run_both(test_a(), test_b())
    assert found_a == []
    assert matches(
        finding,
        "blocking",
        "error",
        "test_b held the event loop for at least 0.40 s without yielding "
        "(asyncio_blocking_threshold = 0.2 s); it was blocked in:",
        f'  File "{os.path.abspath(__file__)}", line *, in test_b',
        "    watchdog_looks(100.3)  # late: the main thread's stack is sampled, in test_b",
        "*",
    )


def test_a_test_that_replaces_the_shared_loops_factory_gets_a_loop_error(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def test_a() -> None:
        asyncio.get_running_loop().set_task_factory(None)

    with batch(loop) as tests:
        window_a = tests.open("test_a")
        task_a = tests.start(window_a, test_a())
        tests.run(task_a)
        tests.shared.outcome(window_a)
        assert loop.get_task_factory() is not None  # the batch's is back
        [finding] = tests.teardown(window_a)
    assert matches(
        finding,
        "loop_error",
        "error",
        "test_a replaced the event loop's task factory (loop.set_task_factory), but it shares "
        "its loop with the tests that run beside it; *",
        "*@pytest.mark.awaitest(concurrent=False)",
    )


def test_after_a_batch_the_loop_and_the_serial_path_are_as_before(
    loop: asyncio.AbstractEventLoop,
) -> None:
    hook = warnings._warn_unawaited_coroutine  # type: ignore[attr-defined]
    with batch(loop) as tests:
        assert _checks._shared is tests.shared
        tests.teardown(tests.open("test_a"))
    assert _checks._shared is None
    assert loop.get_task_factory() is None
    assert loop.get_exception_handler() is None
    assert warnings._warn_unawaited_coroutine is hook
    with watching() as window:  # the serial path, on the same loop: as ever
        assert _checks.active() is window
        run_step(window, loop, starts_a_worker())
        window.settle()
        [finding] = window.take()
    assert matches(finding, "leak", "warn", "test_x left 1 task pending after its teardown;*")
