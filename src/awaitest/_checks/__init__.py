"""The checks that make async mistakes fail the test that made them.

A :class:`Window` watches one test from the start of its setup to the end of its teardown; the
runner wraps each step it runs (an async fixture's setup or teardown, the test call) in
:meth:`Window.step`. The pytest side opens and closes windows and turns their findings into
failures or warnings; nothing here knows about pytest.

What each check costs, and why it is cheap:

* *Missing await*: CPython reports a coroutine that is freed unawaited by calling
  ``warnings._warn_unawaited_coroutine(coro)``, and mostly does so at once, on the line that
  dropped it (reference counting). While a window is open that function is ours: it records the
  coroutine and that line, instead of Python's ``RuntimeWarning``. A test that handles warnings
  itself (``pytest.warns``, ``recwarn``, ``warnings.catch_warnings``: each puts a new
  ``warnings.filters`` list in place) or ignores this one with a ``filterwarnings`` mark gets
  Python's warning as usual, and no finding. (Coroutine origin tracking would give the creation
  line in every case, but it costs more than the rest of the checks together, on every
  coroutine created.)
* *Leaked tasks*: a wrapper around each loop's task factory notes (weakly) the tasks created
  during the test's steps, and the line that created each; those still pending once the test's
  teardown is over are leaks. Checking after teardown lets a fixture stop the worker a test
  started through it.
* *Loop errors*: an exception handler on our loops (never replacing one the user set) records
  what reaches it while a window is open (the test's finding when the evidence says it is the
  project's, see ``blame``; an advisory naming the library otherwise), and passes everything on
  to the default handler, which logs it as it would without awaitest.
* *Blocking* and *timeouts*: one watchdog thread per run, started only when one of them is on.
  It pings the loop with ``call_soon_threadsafe``; a ping answered late means one step held the
  loop, and the main thread's stack sampled while it was late shows where.

Every duration here is read from the monitor's clock, real time by default (``_realtime``): a
test that freezes or shifts time (freezegun, time-machine) must not make a check lie.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import linecache
import re
import sys
import threading
import traceback
import types
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any, Final, Literal

from .._loops.tasks import Task as _Task
from .._realtime import REAL_TIME
from .._record import Record
from .blame import Creator, Places, blame
from .deadlines import (
    Alarm,
    Deadline,
    Expiry,
    LoopBlocked,
    Outside,
    StepTimeout,
    interrupt_main_thread,
)
from .frames import (
    ASYNCIO_DIR,
    NOT_USER_CODE,
    NOT_USER_FILES,
    calling_lines,
    creating_frame,
    creator_site,
    frame_site,
    origin_site,
    override,
    shown,
    summary_site,
    user_frame,
    user_stack,
    waiting_chain,
)

#: Whether the test being watched (the window's owner) ignores a warning with a mark of its own:
#: (owner, message, category) -> bool. The pytest side knows; the default: never.
WarningExpected = Callable[[object, str, type[Warning]], bool]
#: The runner's generator-fixture tasks (pending on purpose) and their async generators.
Hosts = Mapping[asyncio.Task[Any], object]
Severity = Literal["error", "warn", "ignore"]
Kind = Literal["unawaited", "leak", "loop_error", "blocking"]

#: How often the watchdog looks at the step being run: deadlines fire at most this late.
WATCH_PERIOD: Final = 0.05
#: Real seconds a cancelled leaked task gets to finish its ``finally`` blocks.
LEAK_GRACE: Final = 1.0

Clock = Callable[[], float]


class Finding(Record):
    __slots__ = ("kind", "message", "severity")

    def __init__(self, kind: Kind, severity: Severity, message: str) -> None:
        self.kind = kind
        self.severity = severity  # "error" or "warn"
        self.message = message


def _never(owner: object, message: str, category: type[Warning]) -> bool:
    return False


class Policy(Record):
    """Which checks are on, and how loud: read once per run from the settings."""

    __slots__ = (
        "blocking_threshold",
        "loop_errors",
        "pending_on_failure",
        "task_leaks",
        "unawaited",
    )

    def __init__(
        self,
        unawaited: Severity = "error",
        task_leaks: Severity = "warn",
        loop_errors: Severity = "error",
        blocking_threshold: float = 0.0,
        pending_on_failure: bool = True,
    ) -> None:
        self.unawaited = unawaited
        self.task_leaks = task_leaks
        self.loop_errors = loop_errors
        self.blocking_threshold = blocking_threshold
        #: List the test's pending tasks in the report of a failure (``Window.step_failed``).
        self.pending_on_failure = pending_on_failure


#: How many pending tasks the report of a failure lists (then: "and N more").
PENDING_LISTED: Final = 10

_active: Window | None = None
#: The batch in progress (``batch.Shared``, entered): several tests' tasks on one loop. None on
#: the serial path, which then reads ``_active`` as always: this is the one flag it checks.
_shared: Any = None
#: In a batch, the window of the test whose context this is: set in each test's own
#: ``contextvars.Context`` (``batch.Shared.bind``), so every task step of that test, and every
#: task it creates (asyncio copies the creator's context), sees it.
WINDOW: Final[contextvars.ContextVar[Window | None]] = contextvars.ContextVar(
    "awaitest_window", default=None
)


def active() -> Window | None:
    """The window of the test being run now. pytest runs one test at a time in a process, and
    loops are made by several modules, so the runner asks here instead of carrying it. In a
    batch, the window of the running context's test (its setup and teardown run in its own
    context), not the one opened last."""
    if _shared is None:
        return _active
    return WINDOW.get()


class Monitor:
    """Per run: the policy and the watchdog thread, started the first time it is needed.

    ``clock`` is what every duration is measured with (tests pass one they control).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        clock: Clock | None = None,
        places: Places | None = None,
        expected: WarningExpected = _never,
    ) -> None:
        self.policy = policy
        self.clock: Clock = clock or REAL_TIME.monotonic
        #: Which files are the project's: whose loop errors fail a test (see ``blame``).
        self.places = places or Places(())
        #: Whether a test ignores a warning with a mark of its own (the pytest side knows).
        self.expected = expected
        #: What a timeout outside the loop raises in the stuck code: the pytest side makes it
        #: one of pytest's outcomes, which ``except Exception`` doesn't swallow and teardown
        #: bookkeeping expects.
        self.outside_error: Callable[[str], BaseException] = StepTimeout
        self.timeouts_suppressed = False  # set once a debugger was entered
        self.alarm = Alarm()
        self.default_deadline: Deadline | None = None  # from the ini or the command line
        self._watchdog: Watchdog | None = None

    def open(
        self,
        name: str,
        deadline: Deadline | None,
        policy: Policy | None = None,
        owner: object = None,
    ) -> Window:
        """``policy``: the test's own, when it overrides the run's; ``owner``: the pytest
        side's handle on the test (asked whether its marks ignore a warning)."""
        global _active  # noqa: PLW0603 - see active()
        if self.timeouts_suppressed:
            deadline = None
        window = Window(self, name, deadline, _active, policy=policy or self.policy, owner=owner)
        _active = window
        if _shared is not None:
            _shared.opened(window)  # opened in the test's own context: bound to it
        if window.outside is not None:
            self.alarm.install()
            self.watchdog(window.policy.blocking_threshold).watch_window(window)
        return window

    def watchdog(self, threshold: float = 0.0) -> Watchdog:
        """The run's watchdog, looking often enough for ``threshold`` (a blocking threshold)."""
        period = min(WATCH_PERIOD, threshold / 4) if threshold > 0 else WATCH_PERIOD
        if self._watchdog is None:
            self._watchdog = Watchdog(period, self.alarm, self.clock)
        else:
            self._watchdog.at_most(period)  # a test's own, lower, blocking threshold
        return self._watchdog

    def unwatch_window(self, window: Window) -> None:
        if self._watchdog is not None:
            self._watchdog.unwatch_window(window)
        if self.alarm.outside is window:
            self.alarm.outside = None

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        self.alarm.uninstall()


# CPython calls this (private) function of the warnings module for every coroutine freed unawaited.
_PYTHON_HOOK: Final = getattr(warnings, "_warn_unawaited_coroutine", None)
_UNAWAITED_HOOK: Final = callable(_PYTHON_HOOK)


def pass_on(previous: Callable[[Any], None] | None, coro: Any, *, stacklevel: int) -> None:
    """A coroutine freed unawaited that awaitest doesn't report: Python's own warning, from the
    line that dropped it (``stacklevel`` frames up, counting this function as 1). Python's hook,
    called from here, would name our line: it warns with ``stacklevel=2``. Someone else's hook
    (``previous``) is theirs to place."""
    if previous is not _PYTHON_HOOK:
        if previous is not None:
            previous(coro)
        return
    text = f"coroutine '{coro.__qualname__}' was never awaited"
    origin = getattr(coro, "cr_origin", None)
    if origin:
        created = [(f, line, name, linecache.getline(f, line)) for f, line, name in origin]
        text += "\nCoroutine created at (most recent call last)\n" + "".join(
            traceback.format_list(created[::-1])
        ).rstrip("\n")
    warnings.warn(text, RuntimeWarning, stacklevel=stacklevel, source=coro)


class Window:
    """One test watched: its findings, the tasks it started, its deadline."""

    #: A step of the test failed: its exception, and the lines of the test's tasks pending at
    #: that moment (see :meth:`step_failed`). perf: a class attribute, so only a failure sets
    #: one on the window.
    failure: tuple[BaseException, int, list[str]] | None = None
    # perf: the other attributes that start the same in every window and are only ever
    # rebound (never mutated) start as class attributes too (a window per test)
    _imposed: tuple[Deadline | None, float | None, float] | None = None
    deadline_at: float | None = None
    #: The deadline between steps, when it covers sync code (pytest-timeout's).
    outside: Outside | None = None
    closed = False
    tracking = False  # a step is running whose new tasks belong to the test
    _blocked_in_callback: LoopBlocked | None = None
    _previous_hook: Callable[[Any], None] | None = None
    _hooked = False  # the unawaited hook in place is this window's (to restore)

    def __init__(
        self,
        monitor: Monitor,
        name: str,
        deadline: Deadline | None,
        outer: Window | None,
        *,
        policy: Policy,
        owner: object = None,
    ) -> None:
        self.monitor = monitor
        self.policy = policy
        self.owner = owner
        self.name = name
        self.deadline = deadline
        if deadline is not None:
            self.deadline_at = monitor.clock() + deadline.seconds
            if deadline.covers_sync:
                self.outside = Outside(deadline)
        self.findings: list[Finding] = []
        # the tasks the test creates: leak candidates, evidence for blaming loop errors, and
        # what a failure's report lists as pending
        self._track_tasks = (
            policy.task_leaks != "ignore"
            or policy.loop_errors != "ignore"
            or policy.pending_on_failure
        )
        self._plain = _PlainStep()
        self._outer = outer
        # Three entries per task, flat (see note_created): a weak reference to it (a task that
        # died holding an exception must be freed, and reported, on time), the code that
        # created it (None: not known) and that code's instruction offset then.
        self._candidates: list[Any] = []
        self._loops: dict[asyncio.AbstractEventLoop, Hosts] = {}
        self._unawaited: dict[tuple[str, str, str | None], int] = {}
        if policy.unawaited != "ignore" and _UNAWAITED_HOOK:
            # The filters in place now are pytest's for this test; a test that catches
            # warnings itself puts a list of its own in place (see _on_unawaited).
            self._filters = warnings.filters
            if _shared is None:
                self._previous_hook = warnings._warn_unawaited_coroutine  # type: ignore[attr-defined]
                warnings._warn_unawaited_coroutine = self._on_unawaited  # type: ignore[attr-defined]
                self._hooked = True
            else:  # the batch's hook hands each coroutine to its test's window
                self._previous_hook = _shared.hook_unawaited()

    # -- the runner's side -------------------------------------------------------------------

    def step(
        self,
        loop: asyncio.AbstractEventLoop,
        task: asyncio.Future[Any],
        hosts: Hosts,
        *,
        tracked: bool,
    ) -> Step | _PlainStep:
        """Context manager around one ``run_until_complete``; ``tracked`` = tasks it leaves
        pending are the test's (false for the setup of fixtures wider than the test)."""
        if self.deadline is not None or self.policy.blocking_threshold > 0:
            return Step(self, loop, task, hosts, tracked)
        plain = self._plain  # steps never nest, so one per window is enough
        plain.window, plain.loop, plain.hosts, plain.tracked = self, loop, hosts, tracked
        return plain

    def _enter(self, loop: asyncio.AbstractEventLoop, hosts: Hosts, tracked: bool) -> None:
        """What every step does first: the loop's first step in this test installs our
        exception handler and task factory on it."""
        if loop not in self._loops:
            self._loops[loop] = hosts
            if loop.get_exception_handler() is None:
                loop.set_exception_handler(_handle_loop_error)
            if self._track_tasks:
                _watch_task_creation(loop)
        self.tracking = tracked and self._track_tasks

    def step_failed(
        self, loop: asyncio.AbstractEventLoop, hosts: Hosts, exc: BaseException
    ) -> None:
        """A step on ``loop`` raised ``exc``: the test or one of its async fixtures failed. Note
        the tasks the test started that are still pending on ``loop`` now, before anything
        else runs there (the leak check's cleanup, the loop's shutdown). Only failures get
        here: a passing test pays nothing. A timeout is left out: its report has every
        pending task's stack already."""
        if not self.policy.pending_on_failure or isinstance(exc, _NOT_FAILURES):
            return
        pending = [
            (task, creator)
            for task, creator in ((ref(), creator) for ref, creator in self.created())
            if task is not None and task.get_loop() is loop and not task.done()
            if task not in hosts
        ]
        pending.sort(key=lambda pair: pair[0].get_name())
        places = self.monitor.places
        lines = [
            describe_task(task, creator_site(*creator) if creator is not None else None, places)
            for task, creator in pending[:PENDING_LISTED]
        ]
        if len(pending) > PENDING_LISTED:
            lines.append(f"and {len(pending) - PENDING_LISTED} more")
        self.failure = (exc, len(pending), lines) if lines else None

    def pending_at(self, exc: BaseException) -> tuple[int, list[str]] | None:
        """How many tasks were pending when a step failed with ``exc``, or with an exception
        ``exc`` holds (its cause or context, a member of an exception group: pytest raises a
        group when several teardowns fail), and their lines; None when no step failed so, or
        none was pending. Taken once."""
        failure = self.failure
        if failure is None or not _holds(exc, failure[0]):
            return None
        self.failure = None
        return failure[1], failure[2]

    def loop_closing(self, loop: asyncio.AbstractEventLoop, hosts: Hosts) -> None:
        """A loop this test used is about to be shut down: find its leaks while they are still
        pending (shutting down cancels every task, silently)."""
        if loop in self._loops and not loop.is_running() and not loop.is_closed():
            self._collect_leaks(loop, hosts)
            del self._loops[loop]

    # -- the pytest side ---------------------------------------------------------------------

    def quiet(self) -> bool:
        """Nothing found since the last :meth:`take`."""
        return not self.findings and not self._unawaited

    def take(self) -> list[Finding]:
        """The findings so far, each once."""
        self._flush_unawaited()
        found, self.findings = self.findings, []
        return found

    def settle(self) -> None:
        """After teardown: tasks the test started that are still pending are leaks."""
        for loop, hosts in list(self._loops.items()):
            if not loop.is_closed() and not loop.is_running():
                self._collect_leaks(loop, hosts)
        self._loops.clear()

    def close(self) -> None:
        global _active  # noqa: PLW0603 - see active()
        if self.closed:
            return
        self.closed = True
        if self.outside is not None:
            self.monitor.unwatch_window(self)
        if self._hooked:
            warnings._warn_unawaited_coroutine = self._previous_hook  # type: ignore[attr-defined]
            self._hooked = False
        if _active is self:
            # tests of a batch close out of the order they opened in: skip closed ones
            outer = self._outer
            while outer is not None and outer.closed:
                outer = outer._outer
            _active = outer

    def restart_deadline(self) -> None:
        """A fresh allowance from now: after an expiry, for the rest of the test (its teardown),
        and for a sync test's teardown (its body is pytest's to run, not the deadline's)."""
        if self.deadline is not None:
            self.deadline_at = self.monitor.clock() + self.deadline.seconds

    def impose(self, deadline: Deadline) -> None:
        """A deadline for a part of the test, from now until :meth:`lift` (pytest-timeout's
        ``func_only``: the call). The window's own deadline still applies if it ends first."""
        if self._imposed is not None:
            self.lift()
        ends = self.monitor.clock() + deadline.seconds
        self._imposed = (self.deadline, self.deadline_at, ends)
        if self.deadline_at is None or ends < self.deadline_at:
            self.deadline, self.deadline_at = deadline, ends

    def lift(self) -> None:
        """The imposed part is over: the window's own deadline again (a fresh allowance of it
        if the imposed one expired meanwhile, as after any expiry)."""
        if self._imposed is None:
            return
        own, own_at, ends = self._imposed
        self._imposed = None
        expired = self.deadline_at is not None and self.deadline_at > ends
        self.deadline, self.deadline_at = own, own_at
        if expired:
            self.restart_deadline()

    def tick(self, now: float, alarm: Alarm) -> None:
        """From the watchdog thread, while no step runs: past a deadline that covers sync code,
        interrupt the main thread (see ``deadlines.Outside``)."""
        outside, deadline_at = self.outside, self.deadline_at
        if outside is None or deadline_at is None or self.closed or not alarm.ours():
            return
        if outside.due(now, deadline_at):
            outside.sent_at = now
            alarm.outside = self
            interrupt_main_thread()

    def on_alarm(self, frame: FrameType | None) -> None:
        """Our SIGALRM handler, in the main thread, between steps: raise in the stuck code."""
        message = None if self.outside is None else self.outside.interruption(frame)
        if message is not None:
            self.restart_deadline()  # the teardown's allowance, as after a step's expiry
            raise self.monitor.outside_error(message)

    # -- missing await -----------------------------------------------------------------------

    def _on_unawaited(self, coro: Any, batch_filters: object = None) -> None:
        """``batch_filters``: in a batch, filters that count as the test's own too (the
        batch's, see ``batch.Shared``)."""
        filters = warnings.filters
        if filters is not self._filters and filters is not batch_filters:
            self._pass_on(coro)  # the test catches warnings itself: it gets Python's, as usual
            return
        try:
            name = getattr(coro, "__qualname__", None) or repr(coro)
            if self.monitor.expected(
                self.owner, f"coroutine '{name}' was never awaited", RuntimeWarning
            ):
                self._pass_on(coro)  # ignored by a filterwarnings mark of the test's
                return
            origin = origin_site(getattr(coro, "cr_origin", None))  # when the user tracks origins
            if origin is not None:
                site = f"created at {origin}"
            else:
                site = _drop_site(sys._getframe(1), coro)
            key = (name, site, _async_mock_name(coro))
            self._unawaited[key] = self._unawaited.get(key, 0) + 1
        except Exception:  # pragma: no cover - never let the check itself break a test
            self._pass_on(coro)

    def _pass_on(self, coro: Any) -> None:
        # 1: pass_on, 2: this function, 3: _on_unawaited, 4: the code that dropped it
        pass_on(self._previous_hook, coro, stacklevel=4)

    def _flush_unawaited(self) -> None:
        if not self._unawaited:
            return
        severity = self.policy.unawaited
        on_purpose = (
            "On purpose? Expect it with pytest.warns(RuntimeWarning), or mark the test: "
            + override("unawaited", "ignore")
        )
        for (name, site, mock), count in self._unawaited.items():
            times = f" ({count} times)" if count > 1 else ""
            if mock is None:
                text = (
                    f"coroutine {name}() was never awaited{times}; {site}.\n"
                    "Add 'await' before the call, or hand it to asyncio.create_task() and "
                    f"await the task (asyncio_unawaited = {severity})."
                )
            else:
                text = (
                    f"a call of {mock} returned a coroutine that was never awaited{times}; "
                    f"{site}.\nThe code calls it without await, so the method it stands for is "
                    "probably sync: make it a Mock or MagicMock, or create the mock with "
                    "spec=TheRealClass, which makes only the async methods AsyncMocks "
                    f"(asyncio_unawaited = {severity})."
                )
            self.findings.append(Finding("unawaited", severity, f"{text}\n{on_purpose}"))
        self._unawaited.clear()

    # -- loop errors -------------------------------------------------------------------------

    def loop_error(
        self,
        loop: asyncio.AbstractEventLoop,
        context: dict[str, Any],
        reporter: types.FrameType | None,
    ) -> None:
        """``reporter``: who called ``loop.call_exception_handler``, when not asyncio."""
        if isinstance(context.get("exception"), LoopBlocked):
            self._blocked_in_callback = context["exception"]
            return
        try:
            if self.policy.loop_errors != "ignore":
                self._record_loop_error(context, reporter)
        finally:
            loop.default_exception_handler(context)  # logging and caplog see what they always do

    def _record_loop_error(self, context: dict[str, Any], reporter: types.FrameType | None) -> None:
        creator = self._creator(context)
        found = blame(context, self.monitor.places, reporter, creator)
        if found.asyncio_noise or _cancelled_children(context):
            return
        if not found.project:
            self._unblamed(found.library, context)
            return
        severity = self.policy.loop_errors
        on_purpose = override("loop_errors", "ignore")
        if found.reported_by_project:
            tail = (
                "This project's own code reported it, calling loop.call_exception_handler() at "
                f"{found.evidence}. If that is how the project reports an error it has "
                "handled, a test that provokes one should say so: mark it " + on_purpose
            )
        else:
            created = ""
            site = creator_site(*creator) if creator is not None else None
            if site is not None and site not in found.evidence:
                created = f"The task was created at {site}.\n"
            tail = (
                f"It comes from this project's code: {found.evidence}.\n{created}"
                f"{_fix(context)}\nOn purpose? Mark the test: " + on_purpose
            )
        self.findings.append(
            Finding(
                "loop_error",
                severity,
                "an exception reached the event loop's exception handler during the test "
                f"(asyncio_loop_errors = {severity}):\n{format_loop_context(context)}\n{tail}",
            )
        )

    def _unblamed(self, library: str | None, context: dict[str, Any]) -> None:
        """Not the project's: an advisory (a ``warn`` finding), never the test's failure. Its
        text names the library and the error but no test, so the run's summary of advisories
        lists each once, with the tests it came during."""
        source = (
            f"from {library}"
            if library is not None
            else "from code nothing identifies (no traceback, task or callback came with it)"
        )
        exc = context.get("exception")
        error = (
            "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
            if isinstance(exc, BaseException)
            else None
        )
        text = (
            f"an exception {source} reached the event loop's exception handler: "
            f"{context.get('message') or 'Unhandled error in event loop'}"
            + (f" ({error})" if error else "")
            + ". Nothing ties it to this project's code, so no test failed for it; asyncio "
            "logged it, as it does without awaitest (the test's captured log has the "
            "traceback)."
        )
        if all(finding.message != text for finding in self.findings):
            self.findings.append(Finding("loop_error", "warn", text))

    def _creator(self, context: dict[str, Any]) -> Creator | None:
        task = context.get("task") or context.get("future")
        if not isinstance(task, asyncio.Task):
            return None
        for ref, creator in self.created():
            if ref() is task:
                return creator
        return None

    def created(self) -> Iterator[tuple[weakref.ref[asyncio.Task[Any]], Creator | None]]:
        """Each task the test created (weakly) and where, as :func:`note_created` noted it.
        Also read by the watchdog thread (``batch.Shared.owner_of``) while the test notes
        tasks: so one copy, and a task caught halfway through its three entries left out."""
        noted = self._candidates[:]
        whole = len(noted) - len(noted) % 3
        for ref, code, lasti in zip(
            noted[0:whole:3], noted[1:whole:3], noted[2:whole:3], strict=True
        ):
            yield ref, (None if code is None else (code, lasti))

    # -- leaked tasks ------------------------------------------------------------------------

    def _collect_leaks(self, loop: asyncio.AbstractEventLoop, hosts: Hosts) -> None:
        if not self._candidates:
            return
        leaks_on = self.policy.task_leaks != "ignore"
        if not leaks_on and self.policy.unawaited == "ignore":
            return
        leaked = []
        noted = self._candidates
        # perf: a plain loop over the references alone, once per task created
        for index in range(0, len(noted), 3):
            task = noted[index]()
            if task is None or task.done() or task.get_loop() is not loop or task in hosts:
                continue
            code = noted[index + 1]
            site = None if code is None else creator_site(code, noted[index + 2])
            leaked.append((task, site))
        if not leaked:
            return
        gathers = _forgotten_gathers([task for task, _ in leaked])
        if gathers and self.policy.unawaited != "ignore":
            self._report_gathers(gathers, dict(leaked))
            gathered = {child for children in gathers.values() for child in children}
            leaked = [(task, site) for task, site in leaked if task not in gathered]
        if not leaked or not leaks_on:
            if gathers and self.policy.unawaited != "ignore":
                self._cancel_gathers(loop, gathers)
            return
        leaked.sort(key=lambda pair: pair[0].get_name())
        places = self.monitor.places
        lines = [f"  {describe_task(task, site, places)}" for task, site in leaked]
        tasks = [task for task, _ in leaked]
        for task in tasks:
            task.cancel()
        let_finish(loop, tasks, LEAK_GRACE)
        self._cancel_gathers(loop, gathers)
        for index, task in enumerate(tasks):
            # Retrieved here, it is part of this report, not a "never retrieved" loop error
            # once the task is freed (asyncio.run only logs it, too).
            raised = task.exception() if task.done() and not task.cancelled() else None
            if raised is not None:
                lines[index] += (
                    f"\n    and it raised {raised!r} while being cancelled" + _raised_at(raised)
                )
        severity = self.policy.task_leaks
        count = f"{len(leaked)} task" + ("s" if len(leaked) > 1 else "")
        self.findings.append(
            Finding(
                "leak",
                severity,
                f"{self.name} left {count} pending after its teardown; awaitest cancelled "
                f"{'them' if len(leaked) > 1 else 'it'} (asyncio_task_leaks = {severity}):\n"
                + "\n".join(lines)
                + "\nAwait each task before the test ends, or cancel and await it in a "
                "fixture's teardown.\nMeant to outlive the test? Mark the test: "
                + override("task_leaks", "ignore"),
            )
        )

    def _report_gathers(
        self,
        gathers: dict[asyncio.Future[Any], list[asyncio.Task[Any]]],
        sites: dict[asyncio.Task[Any], str | None],
    ) -> None:
        severity = self.policy.unawaited
        for children in gathers.values():
            site = next((sites[c] for c in children if sites.get(c)), None) or "an unknown line"
            count = f"{len(children)} child task" + ("s" if len(children) > 1 else "")
            self.findings.append(
                Finding(
                    "unawaited",
                    severity,
                    f"asyncio.gather() at {site} was never awaited: it started its {count}, "
                    "but nothing awaited the gather, so the test never waited for them; "
                    f"they were still pending after its teardown and awaitest cancelled them "
                    f"(asyncio_unawaited = {severity}).\n"
                    "Add 'await' before asyncio.gather(...).\nOn purpose? Mark the test: "
                    + override("unawaited", "ignore"),
                )
            )

    def _cancel_gathers(
        self,
        loop: asyncio.AbstractEventLoop,
        gathers: dict[asyncio.Future[Any], list[asyncio.Task[Any]]],
    ) -> None:
        """Cancel a forgotten gather's children, and take the ``CancelledError`` that sets on
        the gather: our cleanup's side effect, never a loop error of the test's."""
        children = [child for group in gathers.values() for child in group]
        for child in children:
            child.cancel()
        let_finish(loop, children, LEAK_GRACE)
        for outer in gathers:
            if outer.done() and not outer.cancelled():
                outer.exception()


#: Exceptions out of a step that are not the test's failure: Ctrl-C and exits, a timeout (its
#: report lists the pending tasks itself).
_NOT_FAILURES: Final = (KeyboardInterrupt, SystemExit, StepTimeout)


def _holds(exc: BaseException, wanted: BaseException) -> bool:
    """``wanted`` is ``exc``, or reached from it through causes, contexts and groups."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        found = todo.pop()
        if found is wanted:
            return True
        if id(found) in seen:
            continue
        seen.add(id(found))
        todo.extend(e for e in (found.__cause__, found.__context__) if e is not None)
        if isinstance(found, BaseExceptionGroup):
            todo.extend(found.exceptions)
    return False


def _cancelled_children(context: dict[str, Any]) -> bool:
    """A gather's ``CancelledError`` from its children all being cancelled (by the cleanup of
    leaked tasks, or the loop's shutdown): the forgotten gather is the unawaited check's, this
    only the cleanup's side effect."""
    outer = context.get("future")
    children = getattr(outer, "_children", None)
    return (
        isinstance(context.get("exception"), asyncio.CancelledError)
        and isinstance(children, list)
        and bool(children)
        and all(isinstance(c, asyncio.Future) and c.cancelled() for c in children)
    )


def _forgotten_gathers(
    tasks: list[asyncio.Task[Any]],
) -> dict[asyncio.Future[Any], list[asyncio.Task[Any]]]:
    """The pending ``asyncio.gather()`` futures nothing awaits (no callback of their own) whose
    children are among ``tasks``, with those children. asyncio keeps no link from a child to
    its gather but the done callback gather adds to it, whose closure holds the gather."""
    found: dict[asyncio.Future[Any], list[asyncio.Task[Any]]] = {}
    for task in tasks:
        for callback, *_ in getattr(task, "_callbacks", None) or ():
            if getattr(callback, "__qualname__", "") != "gather.<locals>._done_callback":
                continue
            for cell in getattr(callback, "__closure__", None) or ():
                outer = cell.cell_contents
                awaited = getattr(outer, "_callbacks", None)  # an awaiting task's wakeup
                if isinstance(outer, asyncio.Future) and not outer.done() and not awaited:
                    found.setdefault(outer, []).append(task)
    return found


class _PlainStep:
    """A step when neither a deadline nor the blocking check is on: no thread involved.

    It holds its window and loop only during the step: a lasting window <-> step cycle would
    leave every test's window, and the loop it ran, to the cyclic garbage collector.
    """

    __slots__ = ("hosts", "loop", "tracked", "window")

    def __init__(self) -> None:
        self.window: Window | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hosts: Hosts = _NO_HOSTS
        self.tracked = True

    def __enter__(self) -> _PlainStep:
        window, loop = self.window, self.loop
        assert window is not None
        assert loop is not None
        window._enter(loop, self.hosts, self.tracked)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.window is not None
        self.window.tracking = False
        self.window = self.loop = None
        self.hosts = _NO_HOSTS


_NO_HOSTS: Final[Hosts] = {}


class Step:
    """One ``run_until_complete`` of a watched test, with its deadline and pings."""

    __slots__ = (
        "_clock",
        "_expiry",
        "_hosts",
        "_loop",
        "_owner",
        "_ping_at",
        "_ping_token",
        "_sampled",
        "_started",
        "_thread",
        "_tracked",
        "_watchdog",
        "_window",
    )

    def __init__(
        self,
        window: Window,
        loop: asyncio.AbstractEventLoop,
        task: asyncio.Future[Any],
        hosts: Hosts,
        tracked: bool,
    ) -> None:
        self._window = window
        self._clock = window.monitor.clock
        self._loop = loop
        self._hosts = hosts
        self._tracked = tracked
        self._expiry = (
            None
            if window.deadline is None
            else Expiry(
                loop,
                task,
                window.deadline,
                hosts,
                # in a batch, the other tests' tasks are not this one's pending tasks
                None if _shared is None else _shared.belongs_to(window),
            )
        )
        self._watchdog: Watchdog | None = None
        self._ping_at: float | None = None
        self._ping_token: object | None = None
        self._sampled: str | None = None
        self._owner: Window | None = None  # in a batch: the test whose code held the loop
        self._started = 0.0
        self._thread = threading.get_ident()

    def __enter__(self) -> Step:
        window = self._window
        window._enter(self._loop, self._hosts, self._tracked)
        if self._expiry is not None or window.policy.blocking_threshold > 0:
            monitor = window.monitor
            if self._expiry is not None:
                monitor.alarm.install()
                monitor.alarm.expiry = self._expiry
            self._started = self._clock()
            self._watchdog = monitor.watchdog(window.policy.blocking_threshold)
            self._watchdog.watch(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        window = self._window
        expiry = self._expiry
        if expiry is not None:
            expiry.closed = True
            window.monitor.alarm.expiry = None
        if self._watchdog is not None:
            self._watchdog.unwatch(self)
            self._late_ping()
        window.tracking = False
        if expiry is not None and expiry.over:
            window.restart_deadline()
            blocked = exc if isinstance(exc, LoopBlocked) else window._blocked_in_callback
            window._blocked_in_callback = None
            raise StepTimeout(expiry.message(blocked)) from None

    # -- called from the watchdog thread -----------------------------------------------------

    def tick(self, now: float, alarm: Alarm) -> None:
        """Advance the deadline and blocking checks of this step."""
        expiry = self._expiry
        deadline_at = self._window.deadline_at
        if expiry is not None and deadline_at is not None and not expiry.over:
            if expiry.posted_at is None:
                if now >= deadline_at:
                    expiry.posted_at = now
                    _post(self._loop, expiry.expire)
            elif now >= expiry.posted_at + expiry.deadline.grace():
                expiry.posted_at = now  # try again a grace later if it didn't take
                if alarm.ours():
                    expiry.hard_sent = True
                    interrupt_main_thread()
        threshold = self._window.policy.blocking_threshold
        if threshold > 0:
            if self._ping_at is None:
                if now - self._started >= threshold / 4:  # short steps are never pinged
                    token = self._ping_token = object()
                    self._ping_at = now
                    _post(self._loop, lambda: self._ack(token))
            elif now - self._ping_at >= threshold and self._sampled is None:
                frame = sys._current_frames().get(self._thread)
                self._sampled = user_stack(frame)
                shared = _shared
                if shared is not None:  # in a batch: whose code holds the loop?
                    self._owner = shared.owner_of(frame)

    # -- blocking ------------------------------------------------------------------------------

    def _ack(self, token: object) -> None:
        if token is not self._ping_token or self._ping_at is None:
            return
        late = self._clock() - self._ping_at
        self._report_blocking(late)
        self._ping_token = None
        self._sampled = None
        # the next ping goes out a quarter threshold later, via the watchdog's next tick
        self._ping_at = None

    def _late_ping(self) -> None:
        if self._ping_at is not None and self._ping_token is not None:
            self._report_blocking(self._clock() - self._ping_at)
        self._ping_token = None
        self._ping_at = None

    def _report_blocking(self, late: float) -> None:
        window = self._owner or self._window
        self._owner = None
        report_blocking(window, late, self._sampled)


def report_blocking(window: Window, late: float, sampled: str | None) -> None:
    """``window``'s test held the loop ``late`` seconds, in the ``sampled`` stack."""
    threshold = window.policy.blocking_threshold
    if threshold <= 0 or late < threshold or sampled is None:
        return
    window.findings.append(
        Finding(
            "blocking",
            "error",
            f"{window.name} held the event loop for at least {late:.2f} s without "
            f"yielding (asyncio_blocking_threshold = {threshold:g} s); it was blocked in:\n"
            f"{sampled}\n"
            "Run blocking calls in a thread (await asyncio.to_thread(...)) or use an "
            "async library.\nBlocking on purpose? Mark the test: "
            + override("blocking_threshold", 0),
        )
    )


def let_finish(
    loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], seconds: float
) -> None:
    """Run ``loop`` until every one of ``tasks`` is done, or for ``seconds`` of real time.

    Not ``asyncio.wait(tasks, timeout=...)``: that timeout is on the loop's clock, which a test
    may have frozen (freezegun without ``real_asyncio``) or made virtual.
    """
    pending = {task for task in tasks if not task.done()}
    if not pending:
        return
    finished: asyncio.Future[None] = loop.create_future()

    def stop_waiting(_: object = None) -> None:
        if not finished.done():
            finished.set_result(None)

    def one_done(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not pending:
            stop_waiting()

    for task in list(pending):
        task.add_done_callback(one_done)
    timer = threading.Timer(seconds, _post, (loop, stop_waiting))
    timer.daemon = True
    timer.start()
    try:
        loop.run_until_complete(finished)
    finally:
        timer.cancel()
        for task in tasks:
            task.remove_done_callback(one_done)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # closed meanwhile: nothing to watch any more
        pass


class Watchdog:
    """One daemon thread per run, looking at the step being run every ``period`` seconds.

    It polls rather than being woken per step: starting and ending a step is one attribute
    write, so the many steps that end within a period cost nothing more.
    """

    def __init__(self, period: float, alarm: Alarm, clock: Clock) -> None:
        self._period = period
        self._alarm = alarm
        self._clock = clock
        self._step: Step | None = None
        self._window: Window | None = None  # watched between steps (see Window.tick)
        #: A batch in progress (``batch.Shared``): its tests' deadlines, its loop runs' pings.
        self.batch: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="awaitest-watchdog", daemon=True)
        self._thread.start()

    def watch(self, step: Step) -> None:
        self._step = step

    def unwatch(self, step: Step) -> None:
        if self._step is step:
            self._step = None

    def watch_window(self, window: Window) -> None:
        self._window = window

    def unwatch_window(self, window: Window) -> None:
        if self._window is window:
            self._window = None

    def at_most(self, period: float) -> None:
        self._period = min(self._period, period)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.wait(self._period):
            step, now = self._step, self._clock()
            if step is not None:
                step.tick(now, self._alarm)
            else:
                window = self._window
                if window is not None:
                    window.tick(now, self._alarm)
            batch = self.batch
            if batch is not None:
                batch.tick(now, self._alarm)


#: The code of the two frames a task created with ``asyncio.create_task(coro)`` is made under,
#: asyncio's (perf: skipped by identity before the general search for the creating frame).
_LOOP_CREATE_TASK: Final = getattr(asyncio.BaseEventLoop.create_task, "__code__", None)
_CREATE_TASK: Final = getattr(asyncio.tasks.create_task, "__code__", None)
_getframe: Final = sys._getframe
_weak: Final = weakref.ref


def _tracking_factory(previous: Any) -> Callable[..., asyncio.Future[Any]]:
    """A task factory wrapping a loop's own (``previous``, or none): it notes, weakly, the
    tasks a test's steps create and the line that created each, which is cheaper than
    comparing ``asyncio.all_tasks()`` around every step.

    perf: a closure, not an object with ``__call__`` (a cheaper call, once per task), and the
    line is kept as a code object and instruction offset, read and formatted only for a task
    reported."""

    def awaitest_task_factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        if previous is not None:
            task: asyncio.Future[Any] = previous(loop, coro, **kwargs)
        elif kwargs:
            task = _Task(coro, loop=loop, **kwargs)
        else:
            task = _Task(coro, loop=loop)
        window = _active
        # asyncio's own task closing an async generator the test dropped is not the test's.
        if window is not None and window.tracking and type(coro) is not _AGEN_CLOSE:
            note_created(window, task)
        return task

    return awaitest_task_factory


def note_created(window: Window, task: asyncio.Future[Any]) -> None:
    """``task`` was just made by the task factory that calls this: ``window`` keeps it as a
    candidate leak with the line of the project's code that created it. The one place both task
    factories (the serial one above, a batch's in ``batch``) note a task's creator; asyncio's own
    ``create_task`` frames are skipped by identity.

    Counted from here, the factory is 1 frame up, what called it 2 (asyncio's
    ``loop.create_task``), and 3 what called that (``asyncio.create_task``, nearly always).
    perf: frame 3 is looked at first, so that asyncio's usual two frames cost one frame object
    (``sys._getframe`` makes one for the frame it returns, ``f_back`` one more each), not two.
    """
    try:
        above = _getframe(3)
    except ValueError:  # the factory called from the top of a thread's stack
        above = None
    frame: FrameType | None
    if above is not None and above.f_code is _CREATE_TASK:
        frame = above.f_back  # asyncio.create_task's caller
    else:
        frame = _getframe(2)
        if frame.f_code is _LOOP_CREATE_TASK:
            frame = above  # loop.create_task's caller, not asyncio.create_task
    if frame is not None:
        code = frame.f_code
        if code is _project_code[0] or NOT_USER_FILES.get(code.co_filename) is False:
            # perf: the project's own code created it, a file seen before (nearly always):
            # creating_frame() would return this frame, for one call more per task. The code
            # is kept for the next task, which the same code creates more often than not (a
            # loop, a gather): then its file is not looked up again.
            _project_code[0] = code
            # perf: three appends, no tuples (an allocation each, kept to the end of the test)
            noted = window._candidates
            noted.append(_weak(task))
            noted.append(code)
            noted.append(frame.f_lasti)
            return
    frame = creating_frame(frame)
    noted = window._candidates
    noted.append(_weak(task))
    noted.append(None if frame is None else frame.f_code)
    noted.append(0 if frame is None else frame.f_lasti)


#: The code of the project's that :func:`note_created` last found creating a task (a list:
#: perf, a store into it costs less than a global's).
_project_code: Final[list[types.CodeType | None]] = [None]

#: The code every factory of :func:`_tracking_factory` runs: how one is told from a user's.
_FACTORY_CODE: Final = _tracking_factory(None).__code__


async def _agen() -> AsyncGenerator[None, None]:
    yield


def _agen_close_type() -> type:
    """``async_generator_athrow``, the awaitable of ``agen.aclose()``: not importable by name."""
    closing = _agen().aclose()
    closing.close()
    return type(closing)


_AGEN_CLOSE: Final = _agen_close_type()


def _watch_task_creation(loop: asyncio.AbstractEventLoop) -> None:
    current = loop.get_task_factory()
    if current is None:  # perf: a new loop (one per test); getattr on None would raise inside
        loop.set_task_factory(_tracking_factory(None))
        return
    code = getattr(current, "__code__", None)
    if code is not _FACTORY_CODE and code is not _shared_factory_code:
        loop.set_task_factory(_tracking_factory(current))


#: The code of a batch's task factory (``batch.Shared``), which tracks by context: set there
#: (never None: a loop without a factory has no code either).
_shared_factory_code: Any = object()


def _handle_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    window = _active
    if window is None or window.closed:
        loop.default_exception_handler(context)
    else:
        window.loop_error(loop, context, _reporter(sys._getframe(1)))


def _reporter(frame: types.FrameType | None) -> types.FrameType | None:
    """The caller of asyncio's ``call_exception_handler``, when that is not asyncio itself:
    a library reporting an error through the loop. (uvloop's is not Python: nobody.)"""
    if frame is None or frame.f_code.co_name != "call_exception_handler":
        return None
    if not frame.f_code.co_filename.startswith(ASYNCIO_DIR):
        return None
    caller = frame.f_back
    if caller is None or caller.f_code.co_filename.startswith(ASYNCIO_DIR):
        return None
    # A future freed unreferenced reports from C (its __del__): then the frame below is just
    # whatever ran at that moment, and it never calls call_exception_handler itself.
    if "call_exception_handler" not in caller.f_code.co_names:
        return None
    # A library's own call_exception_handler that forwards to the loop's: its caller reported.
    while caller.f_code.co_name == "call_exception_handler":
        outer = caller.f_back
        if outer is None or "call_exception_handler" not in outer.f_code.co_names:
            break
        caller = outer
    return caller


_MOCK_NAME: Final = re.compile(r"name='([^']*)'")


def _drop_site(frame: types.FrameType | None, coro: Any) -> str:
    """Where an unawaited coroutine was dropped, as the message says it. Freed by the loop's
    callback, it was held by a coroutine of the test's that just returned (a list of them, a
    variable): the frames outside are the loop's caller, pytest, who dropped nothing; the
    line to show is in the finished coroutine, the one that calls this one's function."""
    dropped = creating_frame(frame)
    if dropped is not None:
        return f"dropped at {frame_site(dropped)}, usually the line that called it"
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no loop running: freed by the garbage collector, anywhere
        task = None
    code = getattr(task.get_coro(), "cr_code", None) if task is not None else None
    if code is None or code.co_filename.startswith(NOT_USER_CODE):
        dropped = user_frame(frame)
        where = frame_site(dropped) if dropped is not None else "an unknown line"
        return f"dropped at {where}, usually the line that called it"
    ended = f"dropped when {code.co_name}() returned"
    lines = sorted(calling_lines(code, getattr(coro, "__name__", "")))
    if not lines:
        return f"{ended} ({shown(code.co_filename)}:{code.co_firstlineno})"
    at = ", ".join(str(line) for line in lines)
    return f"called at {shown(code.co_filename)}:{at} (in {code.co_name}), {ended}"


def _async_mock_name(coro: Any) -> str | None:
    """``AsyncMock 'client.send'`` when ``coro`` is what calling an AsyncMock returned."""
    code = getattr(coro, "cr_code", None)
    if code is None or code.co_qualname != "AsyncMockMixin._execute_mock_call":
        return None
    frame = getattr(coro, "cr_frame", None)
    mock = frame.f_locals.get("self") if frame is not None else None
    found = _MOCK_NAME.search(repr(mock)) if mock is not None else None
    return f"AsyncMock {found[1]!r}" if found else "an AsyncMock"


def _fix(context: dict[str, Any]) -> str:
    if "attached to a different loop" in str(context.get("exception")):
        return (
            "It awaited a future of another event loop: the test made a loop of its own (a "
            "fixture calling asyncio.new_event_loop()?) beside the one it runs on, so this "
            "code never ran as the test meant. Use the running loop: "
            "asyncio.get_running_loop()."
        )
    if context.get("asyncgen") is not None:
        return (
            "Make the async generator stop when it is closed (no yield, no exception after "
            "GeneratorExit), and close it where it is used: async with contextlib.aclosing(...)."
        )
    if context.get("handle") is not None or context.get("protocol") is not None:
        return "Handle the error in the callback or protocol method that raises it."
    if isinstance(context.get("future"), asyncio.Task):
        return (
            "Nothing retrieved the task's exception: keep a reference to the task and await "
            "it, or add a done callback that retrieves it "
            "(task.add_done_callback(lambda t: t.cancelled() or t.exception()))."
        )
    return (
        "Await the task or future that holds the exception, or retrieve it (.exception()) in a "
        "done callback."
    )


def format_loop_context(context: dict[str, Any]) -> str:
    """What the default handler would log, as text: message, details, traceback."""
    lines = [str(context.get("message") or "Unhandled error in event loop")]
    for key in sorted(context):
        if key in ("message", "exception"):
            continue
        lines.append(f"{key}: {context[key]!r}")
    exc = context.get("exception")
    text = "\n".join(lines)
    if isinstance(exc, BaseException):
        text += "\n" + "".join(traceback.format_exception(exc)).rstrip()
    return text


def _raised_at(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f", at {frame_site(tb.tb_frame)}" if tb is not None else ""


def describe_task(task: asyncio.Task[Any], site: str | None, places: Places) -> str:
    """A pending task in one line: its name, its coroutine, the line that created it
    (``site``) and the line it waits on."""
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", None) or repr(coro)
    text = f"Task {task.get_name()!r} running {name}()"
    if site is not None:
        text += f", created at {site}"
    if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
        return text + ", not started yet"  # its frame's line would be the def's
    waiting = _waiting_site(coro, places)
    if waiting is not None:
        text += f", waiting at {waiting}"
    return text


def _waiting_site(coro: object, places: Places) -> str | None:
    """The line a suspended coroutine waits on: in its await chain, the innermost frame of the
    project's, else the innermost one outside asyncio (a library's), else its own frame (a
    task running asyncio's own coroutine, ``asyncio.sleep``)."""
    chain = waiting_chain(coro)
    for entry in reversed(chain):
        if places.is_project(entry.filename):
            return summary_site(entry)
    if chain:
        return summary_site(chain[-1])
    frame = getattr(coro, "cr_frame", None)
    return None if frame is None else frame_site(frame)
