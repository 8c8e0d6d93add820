"""Concurrent tests, the pytest side: pytest's protocol split into its phases, each test's pytest
state parked between them, the calls as tasks on the batch's loop (``_loops.flight``), the
reports emitted in collection order (``docs/design/concurrency.md``, "One test's life").

Only :class:`Batches` drives it; the plugin's ``pytest_runtest_protocol`` (registered only with
``asyncio_concurrency`` 1 or more) hands it each test. Which test may join is
``_concurrency``'s decision; where a test's output goes is ``_concurrent_output``'s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from . import _concurrency, _concurrent_output
from ._checks.batch import Shared
from ._checks.deadlines import StepTimeout
from ._compat.pytest_timeout import run_timeout
from ._compat.xdist import Worker
from ._loops.flight import Batch, Flight, current_sink
from ._loops.guard import Guard
from ._pytest_private.internals import (
    finalize_last,
    finalizers_kept_for,
    forget_request,
    function_fixturedefs,
    guard_getfixturevalue,
    keep_parked_finalizers,
    park_fixture,
    restore_fixture,
    run_phase,
    session_stopping,
    setup_stack,
)
from ._report import Checks
from ._session import SessionState, TestPlan


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(message)


def _nodeid(flight: Flight) -> str:
    item = flight.owner
    assert isinstance(item, pytest.Item)
    return item.nodeid


class Batches:
    """The run's batches, one at a time, and what is counted for the summary."""

    def __init__(self, state: SessionState, config: pytest.Config, checks: Checks) -> None:
        self.state = state
        self.config = config
        self.checks = checks
        #: The checks of the batch in progress: each test's window found by its context.
        self.shared: Shared | None = None
        self.limit = state.settings.concurrency
        self.routes = _concurrent_output.routes(config, current_sink)
        self.batch: Batch | None = None
        #: What the batch in progress refuses from a test while others are in flight.
        self.guard: Guard | None = None
        self._unguard: Callable[[], None] | None = None
        #: (node id, reason) of each test that opted in and ran alone, in order.
        self.alone: list[tuple[str, str]] = []
        self.ran = 0  # tests that ran in a batch
        self.most = 0  # the most in flight at once
        self.worker = Worker(config)
        #: pytest-timeout's timeout for every test, read once (see ``_concurrency.eligibility``)
        self._timed = run_timeout(config)
        #: The decision about the next test, made while deciding whether the batch goes on
        #: (perf: asked once per test, not twice).
        self._ahead: tuple[pytest.Item, tuple[TestPlan, tuple[object, ...]] | str | None] | None
        self._ahead = None
        state.flights = {}

    # -- deciding --------------------------------------------------------------------------

    def _joinable(self, item: pytest.Item) -> tuple[TestPlan, tuple[object, ...]] | str | None:
        """(plan, batch key) when ``item`` runs in a batch; the reason when it opted in and runs
        alone; None when it didn't opt in."""
        ahead = self._ahead
        if ahead is not None and ahead[0] is item:
            return ahead[1]
        state = self.state
        plan = state.planned.get(item)
        opted = _concurrency.opted_in(item, plan, state.settings)
        if opted is None:
            return None
        if opted is False:
            return _concurrency.MARKED_ALONE
        reason = _concurrency.eligibility(item, plan, state.settings, self._timed)
        if reason is not None:
            return reason
        assert plan is not None
        return plan, _concurrency.batch_key(item, plan)

    # -- the protocol ----------------------------------------------------------------------

    def protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """``pytest_runtest_protocol``: True when ``item`` was taken into a batch (or not run
        because the session is stopping); None to let pytest run it the normal way."""
        __tracebackhide__ = True
        found = self._joinable(item)
        if not isinstance(found, tuple):
            if found is not None:
                self.alone.append((item.nodeid, found))
            return None
        plan, key = found
        try:
            batch = self.batch
            if batch is None:
                try:
                    batch = self._open(item, plan, key)
                except Exception:
                    # its loop factory raised: the normal protocol's setup asks it again and
                    # reports its error as a serial run does (the user's frame only)
                    self.alone.append((item.nodeid, _concurrency.NO_LOOP))
                    return None
            elif batch.full():
                self._finish(batch.flights[0], nextitem=item)
                if session_stopping(item.session):
                    self._finish_all(None)
                    return True  # -x: no new test once the limit is reached
            elif self.guard is not None and self.guard.patched():
                # a patch a test entered while alone in the batch is still in place (its
                # fixture's): the next test must not take off beside it, so it waits
                self._finish_all(item)
                if session_stopping(item.session):
                    return True
                batch = self._open(item, plan, key)
            alone = self._take_off(batch, item, plan)
            following = None if nextitem is None else self._joinable(nextitem)
            self._ahead = None if nextitem is None else (nextitem, following)
            if alone or not (isinstance(following, tuple) and following[1] == key):
                self._finish_all(nextitem)
        except KeyboardInterrupt:
            self._abort()
            raise
        return True

    def _open(self, item: pytest.Item, plan: TestPlan, key: tuple[object, ...]) -> Batch:
        __tracebackhide__ = True
        runner = self.state.loops.open_shared(plan.loop)
        config, routes = self.config, self.routes
        runner.around = lambda: _concurrent_output.loop_run(config, routes)
        batch = self.batch = Batch(runner, self.limit, key)
        # entered before the first test's window opens, left after the last one's closes
        self.shared = Shared(self.checks.monitor_of_run(), runner.loop, runner.hosts)
        self.shared.__enter__()
        # wrapped only while a batch runs: a run without concurrency never sees them
        guard = self.guard = Guard(batch.flights, _nodeid, _fail).__enter__()

        def looked_up(name: str) -> None:
            __tracebackhide__ = True
            guard.refuse(
                f"request.getfixturevalue({name!r})",
                "get it as an argument of the test or of a fixture",
                calls_only=True,
            )

        unguard = guard_getfixturevalue(looked_up)
        unkeep = keep_parked_finalizers(self._parked_finalizers)

        def undo() -> None:
            unguard()
            unkeep()

        self._unguard = undo
        return batch

    def _parked_finalizers(
        self, fixturedef: pytest.FixtureDef[Any], item: pytest.Item
    ) -> list[Any] | None:
        """The finalizer list parked for ``item``'s ``fixturedef``, or None when it is not
        parked (being set up or torn down: the definition holds its state)."""
        flights = self.state.flights
        flight = None if flights is None else flights.get(item)
        if flight is not None:
            for parked_def, parked in flight.parked:
                if parked_def is fixturedef:
                    finalizers: list[Any] = parked[1]
                    return finalizers
        return None

    def _stop_guarding(self) -> None:
        guard, self.guard = self.guard, None
        if guard is not None:
            guard.__exit__(None, None, None)
        unguard, self._unguard = self._unguard, None
        if unguard is not None:
            unguard()

    def _take_off(self, batch: Batch, item: pytest.Item, plan: TestPlan) -> bool:
        """Set ``item`` up (pytest's own setup, the others' stack entries off), park its
        fixture state, and start its call as a task. True when no test may start beside it:
        its setup mocked the clock (see ``_concurrency.clock``)."""
        __tracebackhide__ = True
        state = self.state
        assert state.flights is not None
        assert isinstance(item, pytest.Function)
        flight = Flight(item)
        batch.flights.append(flight)
        state.flights[item] = flight
        state.loops.lend(item, plan.loop, batch.runner)
        guard = self.guard
        clock = _concurrency.clock()
        try:
            if guard is not None:
                guard.phase = flight  # a fixture's patch is this test's
            with self._alone_on_stack(batch, item):
                setup = flight.context.run(run_phase, item, "setup")
        finally:
            if guard is not None:
                guard.phase = None
            flight.parked = [(d, park_fixture(d)) for d in function_fixturedefs(item)]
        flight.reports.append(setup)
        if setup.passed:
            funcargs = item.funcargs
            coro = item.obj(**{name: funcargs[name] for name in plan.argnames})
            flight.start(batch.runner.loop, coro)
            window = self.checks.windows.get(item)
            if self.shared is not None and window is not None and flight.task is not None:
                self.shared.watch(window, flight.task)  # its deadline cancels this task only
            self.ran += 1
            batch.took_off()
            self.most = max(self.most, batch.most)
        if _concurrency.clock() != clock:
            return True
        if self.shared is not None:  # poll() does nothing for a test whose setup failed
            # its first step now (a request sent, a connection opened), not at the batch's
            # end: what it waits for is then waited for while the next tests are set up
            with self.shared.step():
                batch.poll()
        return False

    @contextlib.contextmanager
    def _alone_on_stack(self, batch: Batch, item: pytest.Item) -> Iterator[None]:
        """pytest's ``SetupState`` holds only ``item``'s entry of the tests in flight: it
        asserts that every stacked node is a parent of the test being set up."""
        stack = setup_stack(item.session)
        others = {
            flight.owner: stack.pop(flight.owner)
            for flight in batch.flights
            if flight.owner is not item and flight.owner in stack
        }
        try:
            if others:
                # their tasks run during this test's async fixtures' loop steps, and may add
                # finalizers meanwhile (request.addfinalizer through a fixture)
                with finalizers_kept_for(item.session, others):
                    yield
            else:
                yield
        finally:
            stack.update(others)

    # -- finishing, in order ---------------------------------------------------------------

    def _finish_all(self, nextitem: pytest.Item | None) -> None:
        __tracebackhide__ = True
        batch = self.batch
        assert batch is not None
        while batch.flights:
            self._finish(batch.flights[0], nextitem=nextitem, last=len(batch.flights) == 1)
        self._close(batch)

    def _finish(self, flight: Flight, *, nextitem: pytest.Item | None, last: bool = False) -> None:
        """Wait for the oldest test's task, report its call, tear it down, emit its reports.
        The batch's ``last`` test closes the batch's loop at the end of its teardown, where a
        test's own loop is closed: what goes wrong then (a generator, a handler cancelled at
        shutdown) is that test's teardown's, as serially."""
        __tracebackhide__ = True
        batch, state = self.batch, self.state
        assert batch is not None
        assert state.flights is not None
        item = flight.owner
        assert isinstance(item, pytest.Function)
        shared, task = self.shared, flight.task
        if shared is None or task is None or task.done():
            # perf: the loop won't run (most tests of a batch are done when their turn comes),
            # so there is nothing to watch; a step would look at every window in the batch
            batch.land(flight)
        else:
            with shared.step():  # the blocking check and deadlines of every test in flight
                batch.land(flight)
        reports: list[pytest.TestReport] = flight.reports
        state.current = item
        ihook = item.ihook
        with _concurrent_output.own_warnings(item), self.worker.reporting(item):
            if flight.task is not None:
                call = flight.context.run(run_phase, item, "call")  # attaches its output
                call.duration = flight.duration
                call.start = flight.wall
                call.stop = flight.wall + call.duration
                reports.append(call)
            # logged before teardown, as runtestprotocol logs them: -x and --maxfail count
            # the failures from the logged reports, and the last teardown depends on it
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            for report in reports:
                ihook.pytest_runtest_logreport(report=report)
            batch.flights.remove(flight)
            following = batch.flights[0].owner if batch.flights else nextitem
            if session_stopping(item.session) and not batch.flights:
                following = None  # as runtestprotocol: tear everything down when stopping
            for fixturedef, parked in flight.parked:
                restore_fixture(fixturedef, parked)
            flight.parked = []  # its state is in the definitions again
            guard = self.guard
            if guard is not None:
                guard.phase = flight
            try:
                with self._alone_on_stack(batch, item):
                    if last:
                        finalize_last(item, functools.partial(self._close_loop, batch))
                    teardown = flight.context.run(run_phase, item, "teardown", nextitem=following)
            finally:
                if guard is not None:
                    guard.phase = None
            ihook.pytest_runtest_logreport(report=teardown)
            ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        self._landed(item, flight)

    def _landed(self, item: pytest.Function, flight: Flight) -> None:
        state = self.state
        assert state.flights is not None
        plan = state.planned[item]
        state.loops.take_back(item, plan.loop)
        del state.flights[item]
        if state.last_runner is not None and state.last_runner[0] is item:
            state.last_runner = None
        forget_request(item)

    def attach_output(self, item: pytest.Function, flight: Flight) -> None:
        """Give ``item``'s report the output its call wrote (``_concurrent_output``)."""
        _concurrent_output.attach(item, flight.sink)

    def timed_out(self, item: pytest.Function) -> None:
        """The call of ``item``, in a batch: its task is done; raise ``StepTimeout`` (the
        report) if its deadline cancelled it."""
        __tracebackhide__ = True
        window = self.checks.windows.get(item)
        if self.shared is not None and window is not None:
            report = self.shared.done(window)
            if report is not None:
                raise StepTimeout(report) from None

    def _close_loop(self, batch: Batch) -> None:
        key = batch.key
        assert isinstance(key, tuple)
        parent = key[0]
        assert isinstance(parent, pytest.Collector)
        self.state.loops.close_shared(parent, batch.runner)  # closed once: _close finds it so

    def _close(self, batch: Batch) -> None:
        self.batch = None
        self._stop_guarding()
        shared, self.shared = self.shared, None
        if shared is not None:
            shared.__exit__(None, None, None)
        batch.runner.around = contextlib.nullcontext
        self._close_loop(batch)

    def abandon(self) -> None:
        """The session ends with tests still in flight (it was interrupted outside the batch's
        own code): tear them down as Ctrl-C does."""
        self._abort()

    def _abort(self) -> None:
        """Ctrl-C: every test in flight is cancelled and torn down once, in order, its state
        put back; no reports (pytest shows none for an interrupted test). The rest of the
        stack is pytest's to tear down at the session's end."""
        batch = self.batch
        if batch is None:
            return
        self._stop_guarding()  # the teardowns of an interrupted run refuse nothing
        batch.abort()
        while batch.flights:
            flight = batch.flights.pop(0)
            item = flight.owner
            assert isinstance(item, pytest.Function)
            for fixturedef, parked in flight.parked:
                with contextlib.suppress(AssertionError):
                    restore_fixture(fixturedef, parked)
            following = batch.flights[0].owner if batch.flights else None
            with contextlib.suppress(Exception), self._alone_on_stack(batch, item):
                flight.context.run(run_phase, item, "teardown", nextitem=following)
            self._landed(item, flight)
        self._close(batch)

    # -- the summary -----------------------------------------------------------------------

    def summary(self, reporter: pytest.TerminalReporter) -> None:
        """A section of its own: under ``-v`` one line per test that opted in and ran alone,
        with the reason; then the count line."""
        if not self.ran and not self.alone:
            return
        reporter.write_sep("=", "awaitest concurrency")
        if reporter.verbosity > 0:
            for nodeid, reason in self.alone:
                reporter.write_line(f"{nodeid} ran alone: {reason}")
        tests = "test" if self.ran == 1 else "tests"
        reporter.write_line(
            f"concurrency: {self.ran} {tests} ran concurrently (at most {self.most} at once), "
            f"{len(self.alone)} ran alone"
        )
