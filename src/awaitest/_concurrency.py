"""Concurrent tests, the decisions: which tests may run beside others, why one may not, and
which tests may share a batch (``docs/design/concurrency.md``).

:func:`eligibility` is the one place that says whether a test that opted in may run beside
others: None, or the reason it runs alone, worded for the line ``-v`` prints
(``<nodeid> ran alone: <reason>``). When unsure, a test runs alone: every reason is a way a
test could see or change what the tests beside it see.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from types import CodeType
from typing import Final

import pytest

from ._collect import async_function, belongs_to_others, markers
from ._config import Settings
from ._loops.routing import CHANGES_OUTPUT_STATE, first_name
from ._loops.runner import is_coroutine_function
from ._pytest_private.internals import (
    closure_fixturedefs,
    concurrency_off_reason,
    fixture_params_of,
)
from ._session import TestPlan

MARKED_ALONE: Final = "it is marked @pytest.mark.awaitest(concurrent=False)"
#: Not a decision of :func:`eligibility`: the batch's loop factory raised when the batch opened.
NO_LOOP: Final = "its loop factory raised (its setup reports the error)"

#: Fixtures that change or read process-wide state per phase (output capture, the warning
#: filters, the logging handlers, patched attributes, the clock: pytest-freezer's ``freezer``,
#: time-machine's ``time_machine``) or hand out the loop: a test using one
#: (itself or through its fixtures) runs alone. pytest-mock's ``mocker`` patches process-wide
#: too. ``request`` counts only as the test's own argument (see :func:`eligibility`).
PROCESS_WIDE: Final = (
    "monkeypatch",
    "capsys",
    "capsysbinary",
    "capfd",
    "capfdbinary",
    "caplog",
    "recwarn",
    "event_loop",
    "event_loop_policy",
    "mocker",
    "class_mocker",
    "module_mocker",
    "package_mocker",
    "session_mocker",
    "looptime",
    "freezer",
    "time_machine",
)


#: Names that, in a test's own code (``co_names`` of its function and the functions inside it),
#: make it run alone: :data:`CHANGES_OUTPUT_STATE` (warning filters and output redirected for a
#: block), ``patch`` (``mock.patch``, ``patch.object``, ``patch.dict``, ``patch.multiple``:
#: every test in flight sees the patched target) and ``getfixturevalue`` (a function-scoped
#: fixture set up from a test's call would be set up on definitions another test is about to
#: use), and the setters of the loop's state (``set_exception_handler``, ``set_task_factory``,
#: ``set_debug``: the batch's loop is every test's beside it; one reached through called code
#: is put back and reported by ``_checks.batch``). Conservative: the name is enough (an HTTP
#: client's ``.patch()`` too), since what it refers to is only known at run time.
CALLS_ALONE: Final = CHANGES_OUTPUT_STATE | {
    "patch",
    "getfixturevalue",
    "set_exception_handler",
    "set_task_factory",
    "set_debug",
}

#: HTTP mocking libraries' process-wide switches: respx's ``respx.mock`` (a router patched into
#: httpcore for every client) and ``aioresponses``; ``unittest.mock``'s module used by name too.
#: Looked for after the other names, so ``mock.patch(...)`` says ``it calls patch()``. (Refused
#: at run time instead, a respx patch half entered left its routers registered for later tests.)
MOCKING: Final = frozenset({"mock", "aioresponses"})


def _calls_alone(code: CodeType | None, names: frozenset[str]) -> str | None:
    """The name that makes ``code``'s test run alone: the first of ``names`` it names, else of
    :data:`MOCKING`; None for neither."""
    if code is None:
        return None
    return first_name(code, names) or first_name(code, MOCKING)


def marked_concurrent(item: pytest.Item, plan: TestPlan | None) -> bool | None:
    """The closest ``@pytest.mark.awaitest(concurrent=...)`` of ``item``, or None. A planned
    test's was parsed (and checked) with its other ``awaitest`` keywords; a test awaitest
    doesn't run has its markers read here, only to say why it runs alone."""
    if plan is not None:
        return plan.checks.concurrent
    for mark in markers(item):
        if mark.name == "awaitest" and isinstance(mark.kwargs.get("concurrent"), bool):
            return bool(mark.kwargs["concurrent"])
    return None


def opted_in(item: pytest.Item, plan: TestPlan | None, settings: Settings) -> bool | None:
    """True: the test asks to run beside others (marked, or ``asyncio_concurrent_tests = all``
    for an async test of ours); False: it is marked to run alone; None: neither (it is not
    counted as running alone)."""
    marked = marked_concurrent(item, plan)
    if marked is not None:
        return marked
    if settings.concurrent_tests == "all" and plan is not None:
        return True
    return None


def eligibility(
    item: pytest.Item, plan: TestPlan | None, settings: Settings, timed: str | None = None
) -> str | None:
    """None when ``item``, which opted in, may run beside others; else why it runs alone.
    ``timed``: the run's pytest-timeout timeout (``_compat.pytest_timeout.run_timeout``, read
    once per run), as its source says it."""
    if plan is None:
        if async_function(item) is None:
            return "it is a sync test"
        if belongs_to_others(item):
            return "it is run by another plugin (anyio, trio or unittest)"
        return "it is not marked @pytest.mark.asyncio (asyncio_mode = strict)"
    if plan.checks.concurrent is False:
        return MARKED_ALONE
    if plan.error is not None:
        return "its marker is wrong (it fails at setup)"
    if not isinstance(item, pytest.Function) or not is_coroutine_function(item.obj):
        return "it is a hypothesis test (each example runs on the loop in turn)"
    names = item.fixturenames
    for name in PROCESS_WIDE:
        if name in names:
            return f"it uses {name}"
    if "request" in plan.argnames:
        # its fixtures' requests are theirs; the test's own may reach getfixturevalue
        return "it uses request"
    if plan.loop.virtual:
        return "it runs on the virtual clock"
    if plan.user_loop is not None:
        return f"its loop comes from the {plan.user_loop.fixture} fixture"
    if plan.loop_scope != "function":
        return f"it runs on the {plan.loop_scope} loop"
    if getattr(item.obj, "patchings", None):
        return "it is decorated with mock.patch"
    for mark in markers(item):
        if mark.name == "filterwarnings":
            return "it has its own filterwarnings marks"
        if mark.name == "flaky":
            # pytest-rerunfailures (or flaky) reruns it in a protocol of its own
            return "it is marked @pytest.mark.flaky (reruns)"
        if mark.name == "looptime":
            return "it runs on looptime's clock"
        if mark.name == "timeout":
            # pytest-timeout's timer spans pytest's whole protocol, which a test in flight
            # leaves right after its setup
            return "it is marked @pytest.mark.timeout (pytest-timeout)"
    if timed is not None:
        # the same timer, armed for every test: a test in flight would leave it behind (its
        # teardown, a hanging sync fixture's, untimed) or be stopped by another test's
        return f"it is timed by pytest-timeout ({timed})"
    code = getattr(getattr(item.obj, "__func__", item.obj), "__code__", None)
    found = _calls_alone(code, CALLS_ALONE)
    if found is not None:
        return f"it calls {found}()"
    for fixturedef in closure_fixturedefs(item):
        # function-scoped only: a wider fixture's patch is the same for every test it serves,
        # as in a serial run; one set up beside other tests is refused at run time
        if fixturedef.scope == "function" and fixturedef.argname not in PROCESS_WIDE:
            found = _fixture_calls_alone(fixturedef.func)
            if found is not None:
                return f"its fixture {fixturedef.argname} calls {found}()"
    return None


#: What a function-scoped fixture's own code may not name for its test to run beside others:
#: :data:`CALLS_ALONE` but ``getfixturevalue``, which a fixture calls during its setup, where
#: pytest's code runs alone (called later, from the test's call, it is refused at run time);
#: and ``get_event_loop``/``set_event_loop``: a sync fixture given the test's loop as the
#: current one is given the batch's, which it may close (to start afresh with
#: ``asyncio.run``) or run (``run_until_complete``, stepping the other tests' calls outside
#: their routing), where serially it had the test's own.
FIXTURE_CALLS_ALONE: Final = (CALLS_ALONE - {"getfixturevalue"}) | {
    "get_event_loop",
    "set_event_loop",
}

#: Each fixture function's first name of :data:`FIXTURE_CALLS_ALONE` (or None), looked for
#: once per function however many tests use it.
_FIXTURE_CALLS: Final[weakref.WeakKeyDictionary[object, str | None]] = weakref.WeakKeyDictionary()


def _fixture_calls_alone(function: object) -> str | None:
    """The first name of :data:`FIXTURE_CALLS_ALONE` in ``function``'s code, else None."""
    try:
        return _FIXTURE_CALLS[function]
    except (KeyError, TypeError):
        pass
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    found = _calls_alone(code, FIXTURE_CALLS_ALONE)
    with contextlib.suppress(TypeError):  # not weakly referenceable: looked at each time
        _FIXTURE_CALLS[function] = found
    return found


def clock() -> tuple[object, ...]:
    """The process's clock functions, which freezegun replaces while it freezes time: a test
    whose setup changed them (its fixture mocks the clock from setup to teardown, and the loop's
    time with it) would move every other test's timers, so no test starts beside it."""
    return (time.monotonic, time.perf_counter, time.time)


def batch_key(item: pytest.Item, plan: TestPlan) -> tuple[object, ...]:
    """What a test shares with every other test of its batch: the parent node (pytest's
    ``SetupState`` is a stack: the module or class stays set up until the batch's last test
    is torn down), the loop factory, and the params of its wider fixtures (a different one
    would finish a wider fixture another test in flight still uses)."""
    return (item.parent, plan.loop, fixture_params_of(item))


def off_reason(config: pytest.Config, settings: Settings) -> str | None:
    """Why concurrency is off for this whole run although ``asyncio_concurrency`` is on."""
    if settings.concurrency < 1:
        return None
    return concurrency_off_reason(config) or _reruns(config)


def _reruns(config: pytest.Config) -> str | None:
    """pytest-rerunfailures' run-wide reruns: its ``pytest_runtest_protocol`` runs a test again
    after a failure, which a test in flight (its protocol taken over by awaitest's) never
    gets. Its options are read the way it reads them (``force_reruns``, then ``reruns``, then
    the ``reruns`` ini key)."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return None
    if config.getoption("force_reruns", None):
        return "--force-reruns"
    if config.getoption("reruns", None):
        return "--reruns"
    try:
        ini = int(str(config.getini("reruns")))
    except ValueError:
        return None
    return "reruns" if ini > 0 else None


def header_line(settings: Settings, off: str | None) -> str | None:
    """The report header's line about concurrency; None while ``asyncio_concurrency = 0``."""
    if settings.concurrency < 1:
        return None
    if off is not None:
        return (
            f"awaitest concurrency: off for this run ({off}): every test runs alone; "
            f"asyncio_concurrency={settings.concurrency} applies without it"
        )
    return (
        f"awaitest concurrency: asyncio_concurrency={settings.concurrency}, "
        f"asyncio_concurrent_tests={settings.concurrent_tests}"
    )
