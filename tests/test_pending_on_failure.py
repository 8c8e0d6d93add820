"""A failing async test's report lists the tasks it left pending at the moment it failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from _helpers import ini

#: How pytest titles the section, per phase.
TITLE = "*- Captured awaitest pending tasks {} -*"
ANY_SECTION = "*Captured awaitest pending tasks*"

FAILS = """
import asyncio

import pytest


async def consume(queue):
    while True:
        await queue.get()


async def wait_for_reply():
    await asyncio.sleep(3600)


async def poll():
    await wait_for_reply()


@pytest.mark.asyncio
async def test_fetch():
    queue = asyncio.Queue()
    asyncio.create_task(consume(queue), name="consumer")
    asyncio.create_task(poll(), name="poller")
    await asyncio.sleep(0)
    assert queue.qsize() == 1
"""


def test_a_failing_test_lists_its_pending_tasks_and_where_each_waits(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_fetch=FAILS)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       assert 0 == 1",
            TITLE.format("call"),
            "2 tasks that test_fetch started were still pending when it failed "
            "(asyncio_pending_on_failure = true):",
            "  Task 'consumer' running consume(), created at test_fetch.py:22 (in test_fetch), "
            "waiting at test_fetch.py:8 (in consume)",
            "  Task 'poller' running poll(), created at test_fetch.py:23 (in test_fetch), "
            "waiting at test_fetch.py:12 (in wait_for_reply)",
        ],
        consecutive=False,
    )
    # after its teardown the same tasks are leaks, reported by the leak check, once
    result.stdout.fnmatch_lines(
        [
            TITLE.format("call"),
            "*- Captured awaitest teardown -*",
            "test_fetch left 2 tasks pending after its teardown; awaitest cancelled them "
            "(asyncio_task_leaks = warn):",
        ]
    )
    assert result.stdout.str().count("Captured awaitest pending tasks") == 1


def test_no_pending_task_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_alone="""
        import asyncio

        import pytest


        async def quick():
            return 1


        @pytest.mark.asyncio
        async def test_alone():
            assert await asyncio.create_task(quick()) == 2
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       assert 1 == 2"])
    result.stdout.no_fnmatch_line(ANY_SECTION)


LEAKS_AND_PASSES = """
import asyncio

import pytest


@pytest.mark.asyncio
async def test_passes():
    asyncio.create_task(asyncio.sleep(3600), name="left")
    await asyncio.sleep(0)
"""


def test_a_passing_test_has_no_section_even_with_pending_tasks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_passes=LEAKS_AND_PASSES)
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured awaitest teardown -*",
            "test_passes left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = warn):",
        ]
    )
    result.stdout.no_fnmatch_line(ANY_SECTION)


@pytest.mark.parametrize(
    ("ini_value", "args", "marker", "listed"),
    [
        ("false", [], "", False),
        ("true", ["--asyncio-pending-on-failure=false"], "", False),
        ("true", [], "@pytest.mark.awaitest(pending_on_failure=False)", False),
        ("false", [], "@pytest.mark.awaitest(pending_on_failure=True)", True),
        ("false", ["--asyncio-pending-on-failure=true"], "", True),
    ],
    ids=["ini-off", "flag-off", "marker-off", "marker-on-over-ini", "flag-on-over-ini"],
)
def test_the_switch(
    pytester: pytest.Pytester, ini_value: str, args: list[str], marker: str, listed: bool
) -> None:
    pytester.makepyfile(
        test_switch=f"""
        import asyncio

        import pytest


        @pytest.mark.asyncio
        {marker}
        async def test_fails():
            asyncio.create_task(asyncio.sleep(3600), name="left")
            await asyncio.sleep(0)
            assert False
        """
    )
    ini(pytester, asyncio_pending_on_failure=ini_value, asyncio_task_leaks="ignore")
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    if listed:
        result.stdout.fnmatch_lines(
            [
                TITLE.format("call"),
                "1 task that test_fails started was still pending when it failed "
                "(asyncio_pending_on_failure = true):",
                "  Task 'left' running sleep(), created at test_switch.py:9 (in test_fails), "
                "waiting at *tasks.py:* (in sleep)",
            ]
        )
    else:
        result.stdout.no_fnmatch_line(ANY_SECTION)
        result.stdout.no_fnmatch_line("*Task 'left'*")


FIXTURES = """
import asyncio

import pytest
import pytest_asyncio


async def serve():
    await asyncio.sleep(3600)


@pytest_asyncio.fixture
async def connection():
    asyncio.create_task(serve(), name="handshake")
    await asyncio.sleep(0)
    raise ConnectionError("refused")


@pytest_asyncio.fixture
async def session():
    yield
    asyncio.create_task(serve(), name="flush")
    await asyncio.sleep(0)
    raise RuntimeError("flush failed")


@pytest.mark.asyncio
async def test_setup_fails(connection):
    pass


@pytest.mark.asyncio
async def test_teardown_fails(session):
    pass


def test_sync_test_with_a_failing_async_fixture(connection):
    pass
"""


def test_an_async_fixtures_setup_or_teardown_error_lists_them_in_its_phase(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_broken=FIXTURES)
    ini(pytester, asyncio_task_leaks="ignore")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=3)
    handshake = (
        "  Task 'handshake' running serve(), created at test_broken.py:13 (in connection), "
        "waiting at test_broken.py:8 (in serve)"
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_setup_fails*",
            "E       ConnectionError: refused",
            TITLE.format("setup"),
            "1 task that test_setup_fails started was still pending when its setup failed "
            "(asyncio_pending_on_failure = true):",
            handshake,
            "*ERROR at teardown of test_teardown_fails*",
            "E       RuntimeError: flush failed",
            TITLE.format("teardown"),
            "1 task that test_teardown_fails started was still pending when its teardown "
            "failed (asyncio_pending_on_failure = true):",
            "  Task 'flush' running serve(), created at test_broken.py:21 (in session), "
            "waiting at test_broken.py:8 (in serve)",
            "*ERROR at setup of test_sync_test_with_a_failing_async_fixture*",
            "E       ConnectionError: refused",
            TITLE.format("setup"),
            "1 task that test_sync_test_with_a_failing_async_fixture started was still "
            "pending when its setup failed (asyncio_pending_on_failure = true):",
            handshake,
        ]
    )


def test_a_task_a_fixture_stops_is_listed_at_the_failure_and_is_no_leak(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_stopped="""
        import asyncio

        import pytest
        import pytest_asyncio


        @pytest_asyncio.fixture
        async def heartbeat():
            task = asyncio.create_task(asyncio.Event().wait(), name="heartbeat")
            yield
            task.cancel()


        @pytest.mark.asyncio
        async def test_fails(heartbeat):
            assert False
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            TITLE.format("call"),
            "1 task that test_fails started was still pending when it failed "
            "(asyncio_pending_on_failure = true):",
            "  Task 'heartbeat' running Event.wait(), created at test_stopped.py:9 "
            "(in heartbeat), "
            "waiting at *locks.py:* (in wait)",
        ]
    )
    result.stdout.no_fnmatch_line("*left 1 task pending after its teardown*")


WIDER = """
import asyncio

import pytest
import pytest_asyncio

pytestmark = pytest.mark.asyncio(loop_scope="{scope}")


async def forever():
    await asyncio.sleep(3600)


@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def server():
    task = asyncio.create_task(forever(), name="server")
    yield
    task.cancel()


async def test_first(server):
    asyncio.create_task(forever(), name="from-first")
    await asyncio.sleep(0)


async def test_second(server):
    asyncio.create_task(forever(), name="from-second")
    await asyncio.sleep(0)
    assert False


async def test_third(server):
    assert False
"""


@pytest.mark.parametrize("scope", ["module", "session"])
def test_on_a_wider_loop_only_the_tasks_the_test_started_are_listed(
    pytester: pytest.Pytester, scope: str
) -> None:
    """The loop's other tasks (a wider fixture's, an earlier test's) are not the test's."""
    pytester.makepyfile(test_wider=WIDER.format(scope=scope))
    ini(pytester, asyncio_task_leaks="ignore")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_second _*",
            TITLE.format("call"),
            "1 task that test_second started was still pending when it failed "
            "(asyncio_pending_on_failure = true):",
            "  Task 'from-second' running forever(), created at test_wider.py:26 "
            "(in test_second), waiting at test_wider.py:10 (in forever)",
            "*_ test_third _*",
        ]
    )
    assert result.stdout.str().count("Captured awaitest pending tasks") == 1
    result.stdout.no_fnmatch_line("*Task 'server'*")
    result.stdout.no_fnmatch_line("*Task 'from-first'*")


def test_a_timeout_lists_its_pending_tasks_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hangs="""
        import asyncio

        import pytest


        async def forever():
            await asyncio.sleep(3600)


        @pytest.mark.asyncio(timeout=0.2)
        async def test_hangs():
            asyncio.create_task(forever(), name="left")
            await asyncio.sleep(3600)
        """
    )
    ini(pytester, asyncio_task_leaks="ignore")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "timed out after 0.2 s (@pytest.mark.asyncio(timeout=0.2)); pending tasks at that "
            "moment:",
            "Task '*' running test_hangs():",
            '  File "*test_hangs.py", line 13, in test_hangs',
            "    await asyncio.sleep(3600)",
            "Task 'left' running forever():",
            '  File "*test_hangs.py", line 7, in forever',
        ]
    )
    result.stdout.no_fnmatch_line(ANY_SECTION)


def test_a_skip_is_no_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_skips="""
        import asyncio

        import pytest


        @pytest.mark.asyncio
        async def test_skips():
            asyncio.create_task(asyncio.sleep(3600), name="left")
            await asyncio.sleep(0)
            pytest.skip("not here")
        """
    )
    ini(pytester, asyncio_task_leaks="ignore")
    recorded = pytester.inline_run()
    recorded.assertoutcome(skipped=1)
    for report in recorded.getreports("pytest_runtest_logreport"):
        assert report.sections == [], report.when


def test_the_section_travels_with_xdist_and_stays_out_of_junit_xml(
    pytester: pytest.Pytester,
) -> None:
    """pytest writes only the captured stdout, stderr and log to the junit XML: the section is
    in the terminal's report (the workers send it with the report) and not mixed into the
    test's own output there."""
    pytester.makepyfile(
        test_ci="""
        import asyncio

        import pytest


        @pytest.mark.asyncio
        async def test_fails():
            asyncio.create_task(asyncio.sleep(3600), name="left")
            await asyncio.sleep(0)
            print("the test's own output")
            assert False
        """
    )
    ini(pytester, asyncio_task_leaks="ignore", junit_logging="all")
    result = pytester.runpytest("-p", "xdist", "-n", "2", "--junitxml=report.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            TITLE.format("call"),
            "1 task that test_fails started was still pending when it failed "
            "(asyncio_pending_on_failure = true):",
            "  Task 'left' running sleep(), created at test_ci.py:8 (in test_fails), "
            "waiting at *tasks.py:* (in sleep)",
            "*- Captured stdout call -*",
            "the test's own output",
        ]
    )
    case = ET.parse(pytester.path / "report.xml").getroot().find(".//testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "assert False"
    out = case.findtext("system-out") or ""
    assert "the test's own output" in out
    assert "Task 'left'" not in ET.tostring(case, encoding="unicode")


def test_a_concurrent_tests_sections_come_in_the_order_of_a_serial_run(
    pytester: pytest.Pytester,
) -> None:
    """The pending tasks' section, then the test's own output, as pytest's capture adds it
    after awaitest's section in a serial run."""
    pytester.makepyfile(
        test_ci="""
        import asyncio

        import pytest

        pytestmark = pytest.mark.awaitest(concurrent=True)


        @pytest.mark.asyncio
        async def test_fails():
            asyncio.create_task(asyncio.sleep(3600), name="left")
            await asyncio.sleep(0)
            print("the test's own output")
            assert False


        @pytest.mark.asyncio
        async def test_beside_it():
            await asyncio.sleep(0)
        """
    )
    ini(pytester, asyncio_task_leaks="ignore")
    result = pytester.runpytest("-p", "no:randomly", "--asyncio-concurrency", "2")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            TITLE.format("call"),
            "1 task that test_fails started was still pending when it failed "
            "(asyncio_pending_on_failure = true):",
            "  Task 'left' running sleep(), created at test_ci.py:10 (in test_fails), "
            "waiting at *tasks.py:* (in sleep)",
            "*- Captured stdout call -*",
            "the test's own output",
            "*= awaitest concurrency =*",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone",
        ]
    )
