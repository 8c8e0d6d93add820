"""Loop errors: asyncio still logs them, and a test fails only for the ones that are its own.

The shapes come from real suites: a server's connection handler cancelled when the loop shuts
down (Python 3.11's ``StreamReaderProtocol`` then raises ``CancelledError`` in a callback), a
test asserting on ``caplog`` that asyncio logged a lost task exception, a protocol whose
``data_received`` raises, a job scheduler reporting a failed job through
``loop.call_exception_handler``, a third-party poller scheduling onto a loop that is closed.
"""

from __future__ import annotations

import asyncio
import ssl
import sys

import pytest

from awaitest._checks.blame import Places


def more_ini(pytester: pytest.Pytester, *lines: str) -> None:
    """Lines added to the ini file the ``mode`` fixture wrote."""
    with open(pytester.path / "tox.ini", "a") as ini:
        ini.write("".join(f"\n{line}" for line in lines) + "\n")


# -- asyncio's log is what it always is ----------------------------------------------------

CAPLOG = """
import asyncio
import gc
import logging

import pytest


async def boom():
    raise RuntimeError("boom")


@pytest.mark.asyncio
async def test_asyncio_logs_the_lost_exception(caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    task = asyncio.get_running_loop().create_task(boom())
    while not task.done():
        await asyncio.sleep(0)
    del task
    gc.collect()
    assert "Task exception was never retrieved" in caplog.text
    assert "RuntimeError: boom" in caplog.text
"""


def test_a_test_that_provokes_a_lost_exception_fails_and_asyncio_still_logs_it(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_caplog=CAPLOG)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # its assertions on caplog passed: the check failed it
    result.stdout.fnmatch_lines(
        [
            "*_ test_asyncio_logs_the_lost_exception _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            "Task exception was never retrieved",
            "*",
            "RuntimeError: boom",
            "It comes from this project's code: raised at test_caplog.py:9 (in boom).",
            "The task was created at test_caplog.py:15 (in test_asyncio_logs_the_lost_exception).",
            "Nothing retrieved the task's exception: keep a reference to the task and await it, "
            "or add a done callback that retrieves it "
            "(task.add_done_callback(lambda t: t.cancelled() or t.exception())).",
            'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
            "*- Captured log call -*",
            "ERROR    asyncio:*Task exception was never retrieved",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "ini", "advised"),
    [
        ('@pytest.mark.awaitest(loop_errors="ignore")', "", False),
        ("", "asyncio_loop_errors = ignore", False),
        ("", "asyncio_loop_errors = warn", True),
    ],
)
def test_caplog_sees_asyncios_log_whatever_the_setting(
    pytester: pytest.Pytester, marker: str, ini: str, advised: bool
) -> None:
    source = CAPLOG.replace("@pytest.mark.asyncio\n", f"@pytest.mark.asyncio\n{marker}\n")
    pytester.makepyfile(test_caplog=source)
    pytester.makeini(f"[pytest]\nfilterwarnings = error\n{ini}\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)  # no warning either: at warn, an advisory
    if advised:
        result.stdout.fnmatch_lines(
            [
                "*= awaitest advisories =*",
                "test_caplog.py::test_asyncio_logs_the_lost_exception: an exception reached the "
                "event loop's exception handler during the test (asyncio_loop_errors = warn):",
                "Task exception was never retrieved",
            ]
        )
    else:
        result.stdout.no_fnmatch_line("*awaitest advisories*")


# -- asyncio's own noise -------------------------------------------------------------------

SERVER = """
import asyncio

import pytest


@pytest.mark.asyncio
async def test_client_talks_to_a_local_server():
    async def handle(reader, writer):
        await reader.readline()
        await asyncio.sleep(10)  # still waiting when the loop shuts down: cancelled then

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\\n")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    server.close()
"""


def test_a_server_handler_cancelled_at_loop_shutdown_is_not_the_tests_error(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_server=SERVER)
    more_ini(pytester, "asyncio_task_leaks = ignore", "filterwarnings = error")
    # its own process: the connection's transport, left open, is freed (and warns) there
    result = pytester.runpytest_subprocess("-rP")
    result.assert_outcomes(passed=1)
    assert "awaitest: loop errors" not in result.stdout.str()
    if sys.version_info < (3, 12):  # asyncio's callback raises there, and asyncio logs it
        result.stdout.fnmatch_lines(
            [
                "*- Captured log teardown -*",
                "ERROR    asyncio:*Exception in callback StreamReaderProtocol.connection_made.*",
                "*asyncio.exceptions.CancelledError",
            ]
        )


# -- the project's code, or someone else's -------------------------------------------------

PROTOCOL = """
import asyncio

import pytest


class LineProtocol(asyncio.Protocol):
    def __init__(self):
        self.waiter = None

    def data_received(self, data):
        if self.waiter is None:
            raise RuntimeError(f"data_received called without a waiter: {{data!r}}")
        self.waiter.set_result(data)


{marker}
class TestRecovery:
    @pytest.mark.asyncio
    async def test_unexpected_data_closes_the_connection(self):
        async def greet(reader, writer):
            writer.write(b"220 hi")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(LineProtocol, "127.0.0.1", port)
        await asyncio.sleep(0.05)
        assert transport.is_closing()
        server.close()
        await server.wait_closed()
"""


def test_a_protocol_of_the_project_that_raises_fails_the_test_with_the_override(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_protocol=PROTOCOL.format(marker=""))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ TestRecovery.test_unexpected_data_closes_the_connection _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            "Fatal error: protocol.data_received() call failed.",
            "protocol: <test_protocol.LineProtocol object at *>",
            "*",
            "RuntimeError: data_received called without a waiter: b'220 hi'",
            "It comes from this project's code: raised at test_protocol.py:12 (in data_received).",
            "Handle the error in the callback or protocol method that raises it.",
            'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
        ]
    )
    marker = '@pytest.mark.awaitest(loop_errors="ignore")'
    pytester.makepyfile(test_protocol=PROTOCOL.format(marker=marker))
    pytester.runpytest("-W", "error").assert_outcomes(passed=1)


JOBS = """
import asyncio


class Scheduler:
    def __init__(self):
        self.tasks = set()

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(self._run(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, coro):
        try:
            await coro
        except Exception as exc:
            self._report(exc)

    def _report(self, exc):
        # the documented way this library reports a job that failed
        asyncio.get_running_loop().call_exception_handler(
            {"message": "Job processing failed", "exception": exc}
        )
"""

JOBS_TEST = """
import asyncio

import pytest

from {package} import Scheduler


async def failing_job():
    raise ValueError("job failed")


@pytest.mark.asyncio
async def test_a_failed_job_is_reported():
    scheduler = Scheduler()
    scheduler.spawn(failing_job())
    await asyncio.sleep(0.01)
    assert not scheduler.tasks
"""


def test_the_projects_own_report_through_call_exception_handler_says_the_override_is_the_answer(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(jobs=JOBS, test_jobs=JOBS_TEST.format(package="jobs"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a_failed_job_is_reported _*",
            "an exception reached the event loop's exception handler during the test "
            "(asyncio_loop_errors = error):",
            "Job processing failed",
            "*",
            "ValueError: job failed",
            "This project's own code reported it, calling loop.call_exception_handler() at "
            "jobs.py:21 (in _report). If that is how the project reports an error it has "
            "handled, a test that provokes one should say so: mark it "
            '@pytest.mark.awaitest(loop_errors="ignore")',
        ]
    )


def installed(pytester: pytest.Pytester, name: str, source: str) -> None:
    """A third-party package: installed in the project's virtual environment."""
    site = pytester.path / ".venv" / "lib" / "site-packages"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(source)
    more_ini(pytester, "pythonpath = .venv/lib/site-packages")


def test_a_failed_job_of_the_projects_code_is_its_error_whoever_reports_it(
    pytester: pytest.Pytester, mode: str
) -> None:
    installed(pytester, "jobqueue", JOBS)
    pytester.makepyfile(test_jobs=JOBS_TEST.format(package="jobqueue"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "ValueError: job failed",
            "It comes from this project's code: raised at test_jobs.py:9 (in failing_job).",
        ]
    )


POLLER = """
import asyncio


class Poller:
    \"""Keeps the loop it first ran on, and wakes it from every later one.\"""

    def __init__(self):
        self.home = None

    def attach(self):
        loop = asyncio.get_running_loop()
        if self.home is None:
            self.home = loop
        loop.call_soon(self._handle_events)

    def _handle_events(self):
        self.home.call_soon_threadsafe(lambda: None)


POLLER = Poller()
"""

POLLER_TEST = """
import asyncio

import pytest

import poller

# a loop per test, and a library that keeps the first: concurrent tests share their batch's
pytestmark = pytest.mark.awaitest(concurrent=False)


@pytest.mark.asyncio
@pytest.mark.parametrize("n", [1, 2, 3])
async def test_uses_the_poller(n):
    poller.POLLER.attach()
    await asyncio.sleep(0.01)
"""


def test_a_third_party_callback_raising_is_one_advisory_naming_the_tests(
    pytester: pytest.Pytester, mode: str
) -> None:
    installed(pytester, "poller", POLLER)
    pytester.makepyfile(test_poller=POLLER_TEST)
    more_ini(pytester, "filterwarnings = error")
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)  # and no warning: filterwarnings = error stays green
    result.stdout.no_fnmatch_line("*warnings summary*")
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_poller.py::test_uses_the_poller[[]2[]], test_poller.py::test_uses_the_poller"
            "[[]3[]]: an exception from poller reached the event loop's exception handler: "
            "Exception in callback Poller._handle_events() (RuntimeError: Event loop is "
            "closed). Nothing ties it to this project's code, so no test failed for it; asyncio "
            "logged it, as it does without awaitest (the test's captured log has the "
            "traceback).",
            "*= 3 passed in *",
        ]
    )


LIBRARY_TASK = """
import asyncio


async def fetch():
    await asyncio.sleep(0)
    raise ConnectionError("reset by peer")


def start_background_fetch():
    return asyncio.get_running_loop().create_task(fetch())
"""

LIBRARY_TASK_TEST = """
import asyncio
import gc

import pytest

import netlib


@pytest.mark.asyncio
async def test_started_by_the_test():
    task = asyncio.get_running_loop().create_task(netlib.fetch())
    await asyncio.sleep(0.01)
    del task
    gc.collect()


@pytest.mark.asyncio
async def test_started_by_the_library():
    task = netlib.start_background_fetch()
    await asyncio.sleep(0.01)
    del task
    gc.collect()
"""


def test_a_task_the_test_created_is_its_own_one_a_library_created_is_not(
    pytester: pytest.Pytester, mode: str
) -> None:
    installed(pytester, "netlib", LIBRARY_TASK)
    pytester.makepyfile(test_tasks=LIBRARY_TASK_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_started_by_the_test _*",
            "an exception reached the event loop's exception handler during the test*",
            "Task exception was never retrieved",
            "*",
            "ConnectionError: reset by peer",
            "It comes from this project's code: in a task created at test_tasks.py:11 (in "
            "test_started_by_the_test).",
            "*= awaitest advisories =*",
            "test_tasks.py::test_started_by_the_library: an exception from netlib reached the "
            "event loop's exception handler: Task exception was never retrieved "
            "(ConnectionError: reset by peer). Nothing ties it to this project's code, so no "
            "test failed for it; asyncio logged it, as it does without awaitest (the test's "
            "captured log has the traceback).",
        ]
    )


def test_a_future_of_another_loop_is_named(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        test_two_loops="""
        import asyncio

        import pytest


        @pytest.fixture
        def loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()


        @pytest.mark.asyncio
        async def test_waits_for_a_signal(loop):
            signal = loop.create_future()

            async def waiter():
                await signal

            asyncio.ensure_future(waiter())
            await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "RuntimeError: Task <Task pending * got Future <Future pending> attached to a "
            "different loop",
            "It comes from this project's code: raised at test_two_loops.py:18 (in waiter).",
            "It awaited a future of another event loop: the test made a loop of its own (a "
            "fixture calling asyncio.new_event_loop()?) beside the one it runs on, so this code "
            "never ran as the test meant. Use the running loop: asyncio.get_running_loop().",
            'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
        ]
    )


def test_an_async_generator_of_the_project_that_misbehaves_on_close(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_agen="""
        import pytest

        open_generators = []


        async def stuck():
            try:
                yield 1
            except GeneratorExit:
                yield 2  # refuses to stop


        @pytest.mark.asyncio
        async def test_leaves_it_open():
            agen = stuck()
            open_generators.append(agen)  # closed when the loop shuts down
            assert await agen.__anext__() == 1
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_it_open*",
            "an exception reached the event loop's exception handler during the test*",
            "an error occurred during closing of asynchronous generator <async_generator "
            "object stuck at *>",
            "asyncgen: <async_generator object stuck at *>",
            "RuntimeError: async generator ignored GeneratorExit",
            "It comes from this project's code: in the async generator stuck(), defined at "
            "test_agen.py:6.",
            "Make the async generator stop when it is closed (no yield, no exception after "
            "GeneratorExit), and close it where it is used: async with "
            "contextlib.aclosing(...).",
            'On purpose? Mark the test: @pytest.mark.awaitest(loop_errors="ignore")',
        ]
    )


def test_which_files_are_the_projects() -> None:
    places = Places(("/usr/src/app",))
    assert places.is_project("/usr/src/app/shop/orders.py")
    assert places.is_project("/usr/src/app/tests/test_orders.py")
    assert not places.is_project("/usr/src/app/.venv/lib/python3.11/site-packages/grpc/aio.py")
    assert not places.is_project("/usr/lib/python3/dist-packages/yaml/__init__.py")
    assert not places.is_project("/srv/other/module.py")
    assert not places.is_project(asyncio.__file__)
    assert not places.is_project("<string>")
    assert places.library("/usr/src/app/.venv/lib/python3.11/site-packages/grpc/aio.py") == "grpc"
    assert places.library("/usr/lib/python3/dist-packages/yaml.py") == "yaml"
    assert places.library(asyncio.__file__) == "asyncio"
    assert places.library(ssl.__file__) == "ssl"


# -- a forgotten gather is a missing await, not a loop error --------------------------------

FORGOTTEN_GATHER = """
import asyncio

import pytest


async def fetch(i):
    await asyncio.sleep(10)


@pytest.mark.asyncio
async def test_forgets():
    asyncio.gather(fetch(1), fetch(2))
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("leaks", ["warn", "ignore"])
def test_a_forgotten_gather_is_reported_at_its_line_not_as_our_cleanups_cancelled_error(
    pytester: pytest.Pytester, mode: str, leaks: str
) -> None:
    """Cancelling the leaked children sets a ``CancelledError`` on the gather nobody awaited:
    awaitest's own side effect. The report is the forgotten gather, at the test's line."""
    pytester.makepyfile(test_gather=FORGOTTEN_GATHER)
    more_ini(pytester, f"asyncio_task_leaks = {leaks}")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_forgets _*",
            "asyncio.gather() at test_gather.py:12 (in test_forgets) was never awaited: it "
            "started its 2 child tasks, but nothing awaited the gather, so the test never "
            "waited for them; they were still pending after its teardown and awaitest "
            "cancelled them (asyncio_unawaited = error).",
            "Add 'await' before asyncio.gather(...).",
            'On purpose? Mark the test: @pytest.mark.awaitest(unawaited="ignore")',
            "*= short test summary info =*",
        ]
    )
    result.stdout.no_fnmatch_line("*exception reached the event loop's exception handler*")
    result.stdout.no_fnmatch_line("*_GatheringFuture exception was never retrieved*")
    result.stdout.no_fnmatch_line("*left 2 tasks pending*")
