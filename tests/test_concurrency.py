"""Concurrent tests (``asyncio_concurrency``): the waits of tests that opted in overlap on one
shared loop, while every test keeps its own fixtures, reports, outcome and place in the run, as
when run one by one (``docs/how-to/concurrent-tests.md``)."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from typing import Final

import pytest
from _helpers import ini, verdicts

#: Two tests that can only pass together: each sets its event, then waits for the other's.
#: One at a time, the first waits ``{wait}`` s for an event nobody sets and fails.
PAIR: Final = """
import asyncio
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]
seen = {{}}


def event(name):
    return seen.setdefault(name, asyncio.Event())


async def test_a():
    event("a").set()
    await asyncio.wait_for(event("b").wait(), {wait})


async def test_b():
    event("b").set()
    await asyncio.wait_for(event("a").wait(), {wait})
"""

#: Run in collection order, two tests in flight at most.
CONCURRENT: Final = ("-p", "no:randomly", "--asyncio-concurrency", "2")


@pytest.mark.serial_only(
    "asserts the header line of its own asyncio_concurrency settings, which the suite's -o replaces"
)
def test_the_waits_of_two_tests_overlap(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pair=PAIR.format(wait=5))
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=2)
    assert verdicts(result) == {"test_a": "PASSED", "test_b": "PASSED"}
    result.stdout.fnmatch_lines(
        [
            "awaitest concurrency: asyncio_concurrency=2, asyncio_concurrent_tests=marked",
            "*= awaitest concurrency =*",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone",
        ]
    )


STARTS_BEFORE_THE_NEXT_SETUP: Final = """
import asyncio

import pytest

pytestmark = pytest.mark.awaitest(concurrent=True)
events = []
second_started = asyncio.Event()


@pytest.fixture
def noted(request):
    events.append(f"setup {request.node.name}")


@pytest.mark.asyncio
async def test_first(noted):
    events.append("test_first sends")
    await second_started.wait()  # in flight until test_second's call runs
    events.append("test_first answered")


@pytest.mark.asyncio
async def test_second(noted):
    events.append("test_second sends")
    second_started.set()
    await asyncio.sleep(0)


@pytest.mark.awaitest(concurrent=False)
def test_zz_log():
    print("\\n".join(events))
"""


def test_a_call_starts_before_the_next_test_is_set_up(pytester: pytest.Pytester) -> None:
    """A test's call runs up to its first wait as soon as its setup is done, so what it waits
    for is waited for while the tests after it are set up, not from the end of the batch."""
    pytester.makepyfile(test_starts=STARTS_BEFORE_THE_NEXT_SETUP)
    result = pytester.runpytest(*CONCURRENT, "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*setup test_first",  # after the progress line's dots
            "test_first sends",
            "setup test_second",
            "test_second sends",
            "test_first answered",
        ],
        consecutive=True,
    )


def test_the_flag_turns_concurrency_off_for_one_run(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_concurrency="5")
    pytester.makepyfile(test_pair=PAIR.format(wait=0.2))
    result = pytester.runpytest("-p", "no:randomly", "--asyncio-concurrency", "0")
    # one at a time, test_a waits for test_b in vain
    result.assert_outcomes(passed=1, failed=1)
    assert "awaitest concurrency" not in result.stdout.str()
    assert "ran concurrently" not in result.stdout.str()


def test_asyncio_concurrent_tests_all_needs_no_marker(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_concurrency="2", asyncio_concurrent_tests="all")
    pytester.makepyfile(
        test_pair=PAIR.format(wait=5).replace(", pytest.mark.awaitest(concurrent=True)", "")
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["concurrency: 2 tests ran concurrently (at most 2 at once), 0 ran alone"]
    )


@pytest.mark.serial_only(
    "its subject is a run with asyncio_concurrency off, which the suite's -o turns on"
)
def test_with_concurrency_off_no_hook_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plugins(pytestconfig):
            names = [name for name, _ in pytestconfig.pluginmanager.list_name_plugin()]
            print("registered:", "awaitest-concurrency" in names)
        """
    )
    off = pytester.runpytest("-s")
    off.stdout.fnmatch_lines(["*registered: False*"])
    on = pytester.runpytest("-s", "--asyncio-concurrency", "3")
    on.stdout.fnmatch_lines(["*registered: True*"])


FIXTURES: Final = """
import asyncio
import pytest
import pytest_asyncio

pytestmark = pytest.mark.awaitest(concurrent=True)
events = []
gate = {{}}


@pytest.fixture
def res(request):
    name = request.node.name
    events.append(f"setup {{name}}")
    request.addfinalizer(lambda: events.append(f"finalizer {{name}}"))
    yield {{"owner": name}}
    events.append(f"teardown {{name}}")


@pytest_asyncio.fixture
async def conn(res):
    await asyncio.sleep(0)
    yield res
    await asyncio.sleep(0)
    events.append(f"async teardown {{res['owner']}}")


@pytest.fixture{params}
def number(request):
    return getattr(request, "param", 0)


async def test_one(conn, number, request):
    pass


{tests}


def test_zz_log():
    print("\\n".join(events))
"""

THREE: Final = """
async def test_{n}(conn, res, number):
    gate.setdefault("{n}", asyncio.Event()).set()
    for other in "xyz":
        await asyncio.wait_for(gate.setdefault(other, asyncio.Event()).wait(), 5)
    assert conn["owner"] == res["owner"] == "test_{n}"
"""


def test_function_fixtures_run_exactly_once_per_test_with_their_own_values(
    pytester: pytest.Pytester,
) -> None:
    tests = "\n".join(THREE.format(n=n) for n in "xyz")
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(test_concurrent_fixtures=FIXTURES.format(params="", tests=tests))
    result = pytester.runpytest(*CONCURRENT[:-1], "3", "-s", "-v")
    result.assert_outcomes(passed=5)
    log = result.stdout.lines
    for name in ("test_x", "test_y", "test_z"):
        for what in ("setup", "async teardown", "teardown", "finalizer"):
            assert log.count(f"{what} {name}") == 1, (what, name)
    # test_one uses request itself: it runs alone, before the others set up
    result.stdout.fnmatch_lines(
        [
            "test_concurrent_fixtures.py::test_one ran alone: it uses request",
            "test_concurrent_fixtures.py::test_zz_log ran alone: it is a sync test",
            "concurrency: 3 tests ran concurrently (at most 3 at once), 2 ran alone",
        ]
    )


def test_a_parametrized_function_fixture_gives_each_concurrent_test_its_param(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]
        started = []

        @pytest.fixture(params=[1, 2, 3])
        def number(request):
            return request.param

        @pytest.fixture(scope="module", params=["m1", "m2"])
        def wide(request):
            return request.param

        async def test_param(number, wide):
            started.append((wide, number))
            # every case of this module param is in flight before any goes on
            while sum(1 for w, _ in started if w == wide) < 3:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
            assert (wide, number) in started
        """
    )
    result = pytester.runpytest(*CONCURRENT[:-1], "10", "-v")
    result.assert_outcomes(passed=6)
    assert list(verdicts(result)) == [
        "test_param[m1-1]",
        "test_param[m1-2]",
        "test_param[m1-3]",
        "test_param[m2-1]",
        "test_param[m2-2]",
        "test_param[m2-3]",
    ]
    # one batch per module param: at most 3 at once
    result.stdout.fnmatch_lines(
        ["concurrency: 6 tests ran concurrently (at most 3 at once), 0 ran alone"]
    )


#: The first test is the last to finish: each waits for the one after it.
ORDERED: Final = """
import asyncio
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]
done = {}


def event(n):
    return done.setdefault(n, asyncio.Event())


async def test_1():
    await asyncio.wait_for(event(2).wait(), 5)
    print("one")
    assert 0, "one fails"


async def test_2():
    await asyncio.wait_for(event(3).wait(), 5)
    print("two")
    event(2).set()


async def test_3():
    print("three")
    event(3).set()
    pytest.skip("three skips")
"""


def test_reports_come_in_collection_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ordered=ORDERED)
    result = pytester.runpytest(*CONCURRENT[:-1], "3", "-v", "-rA")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "test_ordered.py::test_1 FAILED*",
            "test_ordered.py::test_2 PASSED*",
            "test_ordered.py::test_3 SKIPPED (three skips)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "PASSED test_ordered.py::test_2",
            "SKIPPED [[]1[]] test_ordered.py:*: three skips",
            "FAILED test_ordered.py::test_1 - AssertionError: one fails",
        ]
    )
    text = result.stdout.str()
    # each test's output stays in its own report
    failure = text[text.index("___ test_1 ___") : text.index("=== PASSES")]
    assert "one" in failure
    assert "two" not in failure
    assert "three" not in failure


def _testcases(path: str) -> list[tuple[str, str, list[str]]]:
    root = ET.parse(path).getroot()
    return [
        (case.get("classname", ""), case.get("name", ""), sorted(child.tag for child in case))
        for case in root.iter("testcase")
    ]


def test_junit_xml_has_the_testcases_of_a_serial_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ordered=ORDERED.replace("5)", "0.3)"))
    pytester.runpytest(*CONCURRENT[:-1], "3", "--junitxml=concurrent.xml")
    concurrent = _testcases(str(pytester.path / "concurrent.xml"))
    assert concurrent == [
        ("test_ordered", "test_1", ["failure"]),
        ("test_ordered", "test_2", []),
        ("test_ordered", "test_3", ["skipped"]),
    ]
    serial_result = pytester.runpytest(
        "-p", "no:randomly", "--asyncio-concurrency", "0", "--junitxml=serial.xml"
    )
    serial_result.assert_outcomes(failed=2, skipped=1)  # one at a time, 1 and 2 wait in vain
    serial = _testcases(str(pytester.path / "serial.xml"))
    assert [case[:2] for case in serial] == [case[:2] for case in concurrent]


def test_x_starts_no_new_test_and_reports_the_ones_in_flight(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]

        async def test_1():
            assert 0, "the first fails"

        async def test_2():
            await asyncio.sleep(0)

        async def test_3():
            print("test_3 ran")

        async def test_4():
            print("test_4 ran")
        """
    )
    result = pytester.runpytest(*CONCURRENT, "-v", "-x", "-s")
    # test_1 and test_2 were in flight when test_1 failed; test_3 was never started
    result.assert_outcomes(passed=1, failed=1)
    assert verdicts(result) == {"test_1": "FAILED", "test_2": "PASSED"}
    assert "test_3 ran" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_each_test_that_runs_alone_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_alone="""
        import asyncio
        import warnings
        import pytest

        pytestmark = [pytest.mark.awaitest(concurrent=True)]

        @pytest.mark.asyncio
        async def test_patches(monkeypatch):
            pass

        @pytest.mark.asyncio
        @pytest.mark.awaitest(concurrent=False)
        async def test_kept_alone():
            pass

        def test_sync():
            pass

        @pytest.mark.asyncio
        async def test_virtual(virtual_clock):
            pass

        @pytest.mark.asyncio
        @pytest.mark.filterwarnings("ignore")
        async def test_filters():
            pass

        @pytest.mark.asyncio
        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop():
            pass

        @pytest.mark.asyncio
        async def test_warns():
            with pytest.warns(UserWarning):
                warnings.warn("seen", UserWarning)

        @pytest.mark.asyncio
        async def test_1():
            await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_2():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest concurrency =*",
            "test_alone.py::test_patches ran alone: it uses monkeypatch",
            "test_alone.py::test_kept_alone ran alone: it is marked "
            "@pytest.mark.awaitest(concurrent=False)",
            "test_alone.py::test_sync ran alone: it is a sync test",
            "test_alone.py::test_virtual ran alone: it runs on the virtual clock",
            "test_alone.py::test_filters ran alone: it has its own filterwarnings marks",
            "test_alone.py::test_module_loop ran alone: it runs on the module loop",
            "test_alone.py::test_warns ran alone: it calls warns()",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 7 ran alone",
        ]
    )
    quiet = pytester.runpytest(*CONCURRENT)
    quiet.assert_outcomes(passed=9)
    assert "ran alone:" not in quiet.stdout.str()
    quiet.stdout.fnmatch_lines(
        ["concurrency: 2 tests ran concurrently (at most 2 at once), 7 ran alone"]
    )


#: The start of a module of concurrent tests that patch ``Thing``.
THING: Final = """
import asyncio
import os
from unittest import mock
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]


class Thing:
    value = "real"
"""


def test_a_test_whose_code_patches_or_looks_fixtures_up_runs_alone(
    pytester: pytest.Pytester,
) -> None:
    # each patching test is followed by one that would see its patch if both were in flight
    pytester.makepyfile(
        test_patching=THING
        + textwrap.dedent("""
        from unittest.mock import patch

        @pytest.fixture
        def number():
            return 3

        @pytest.fixture
        def req(request):
            return request

        async def test_patch_object():
            with mock.patch.object(Thing, "value", "patched"):
                await asyncio.sleep(0.05)
                assert Thing.value == "patched"

        async def test_sees_thing():
            await asyncio.sleep(0.01)
            assert Thing.value == "real"

        async def test_patch_dict():
            with patch.dict(os.environ, {"AWAITEST_PATCHED": "1"}):
                await asyncio.sleep(0.05)

        async def test_sees_environ():
            await asyncio.sleep(0.01)
            assert "AWAITEST_PATCHED" not in os.environ

        async def test_patch_in_a_nested_function():
            @patch.multiple(Thing, value="multiple")
            async def inner():
                await asyncio.sleep(0.05)
                return Thing.value

            assert await inner() == "multiple"

        async def test_sees_thing_again():
            await asyncio.sleep(0.01)
            assert Thing.value == "real"

        async def test_looks_up(req):
            assert req.getfixturevalue("number") == 3
        """)
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest concurrency =*",
            "test_patching.py::test_patch_object ran alone: it calls patch()",
            "test_patching.py::test_patch_dict ran alone: it calls patch()",
            "test_patching.py::test_patch_in_a_nested_function ran alone: it calls patch()",
            "test_patching.py::test_looks_up ran alone: it calls getfixturevalue()",
            "concurrency: 3 tests ran concurrently (at most 1 at once), 4 ran alone",
        ]
    )


def test_a_test_using_an_http_mocking_librarys_switch_runs_alone(
    pytester: pytest.Pytester,
) -> None:
    """respx's ``respx.mock`` patches httpcore for every client of the process: a test using it
    runs alone (refused at run time, its half-entered patch left respx's routers registered for
    the tests after it), and each test gets the serial outcome."""
    pytester.makepyfile(
        test_respx=THING
        + textwrap.dedent("""
        import httpx
        import respx
        from respx.mocks import Mocker

        async def test_mocked_post():
            async with respx.mock:
                respx.post("https://foo.bar/") % 201
                await asyncio.sleep(0.02)
                async with httpx.AsyncClient() as client:
                    response = await client.post("https://foo.bar/", content=b"x")
                assert response.status_code == 201

        @pytest.mark.parametrize("n", [0, 1])
        async def test_mocked_get(n):
            async with respx.mock:
                respx.get("https://foo.bar/") % 200
                await asyncio.sleep(0.02)

        async def test_beside():
            await asyncio.sleep(0.01)
            assert not Mocker.registry["httpcore"].routers
        """)
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "test_respx.py::test_mocked_post ran alone: it calls mock()",
            "test_respx.py::test_mocked_get[[]0[]] ran alone: it calls mock()",
            "test_respx.py::test_mocked_get[[]1[]] ran alone: it calls mock()",
            "concurrency: 1 test ran concurrently (at most 1 at once), 3 ran alone",
        ]
    )


def test_a_test_whose_code_sets_the_loops_state_runs_alone(pytester: pytest.Pytester) -> None:
    """The batch's loop is every test's beside it: a test whose own code sets its exception
    handler, task factory or debug mode runs alone, on a loop of its own, and passes as
    serially; the test after it sees the loop as awaitest made it."""
    pytester.makepyfile(
        test_loop_state=THING
        + textwrap.dedent("""
        seen = []

        def handler(loop, context):
            seen.append(context["message"])

        async def test_own_handler():
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(handler)
            loop.call_exception_handler({"message": "mine"})
            await asyncio.sleep(0.05)
            assert seen == ["mine"]

        async def test_debug():
            asyncio.get_running_loop().set_debug(True)
            await asyncio.sleep(0.05)

        async def test_factory():
            asyncio.get_running_loop().set_task_factory(None)
            await asyncio.sleep(0.05)

        async def test_after():
            loop = asyncio.get_running_loop()
            await asyncio.sleep(0.01)
            assert loop.get_exception_handler() is not handler
            assert not loop.get_debug()
        """)
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest concurrency =*",
            "test_loop_state.py::test_own_handler ran alone: it calls set_exception_handler()",
            "test_loop_state.py::test_debug ran alone: it calls set_debug()",
            "test_loop_state.py::test_factory ran alone: it calls set_task_factory()",
            "concurrency: 1 test ran concurrently (at most 1 at once), 3 ran alone",
        ]
    )


def test_a_test_whose_function_fixture_patches_runs_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_patching_fixtures=THING
        + textwrap.dedent("""
        import pytest_asyncio

        @pytest.fixture
        def patched():
            with mock.patch.object(Thing, "value", "patched"):
                yield

        @pytest_asyncio.fixture
        async def environ():
            with mock.patch.dict(os.environ, {"AWAITEST_SET": "1"}):
                yield

        @pytest.fixture(scope="module")
        def wide():
            with mock.patch.object(Thing, "value", "real"):  # the same for every test
                yield

        @pytest.fixture
        def looks_up(request):
            return request.getfixturevalue("wide")  # during its setup: pytest's own code

        async def test_beside(looks_up):
            await asyncio.sleep(0.01)
            assert Thing.value == "real"

        async def test_patched(patched):
            await asyncio.sleep(0.03)
            assert Thing.value == "patched"

        async def test_beside_again(wide):
            await asyncio.sleep(0.01)
            assert "AWAITEST_SET" not in os.environ

        async def test_environ(environ):
            await asyncio.sleep(0.03)
            assert os.environ["AWAITEST_SET"] == "1"
        """)
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "test_patching_fixtures.py::test_patched ran alone: its fixture patched calls patch()",
            "test_patching_fixtures.py::test_environ ran alone: its fixture environ calls patch()",
            "concurrency: 2 tests ran concurrently (at most 1 at once), 2 ran alone",
        ]
    )


def test_a_test_whose_sync_fixture_takes_the_current_loop_runs_alone(
    pytester: pytest.Pytester,
) -> None:
    """A sync fixture shown the test's loop as the current one would be shown the batch's: one
    that closes it to start afresh with asyncio.run() (which serially gives the test a new loop)
    makes its test run alone, and both tests pass as serially."""
    pytester.makepyfile(
        test_own_loop=THING
        + textwrap.dedent("""
        @pytest.fixture
        def runs_its_own_loop():
            asyncio.get_event_loop().close()
            return asyncio.run(asyncio.sleep(0, "ran"))

        async def test_beside():
            await asyncio.sleep(0.01)

        async def test_after_its_own_loop(runs_its_own_loop):
            assert runs_its_own_loop == "ran"
            assert not asyncio.get_running_loop().is_closed()
        """)
    )
    result = pytester.runpytest(*CONCURRENT, "-v", "-W", "error")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "test_own_loop.py::test_after_its_own_loop ran alone: its fixture runs_its_own_loop "
            "calls get_event_loop()",
            "concurrency: 1 test ran concurrently (at most 1 at once), 1 ran alone",
        ]
    )


#: Code the tests call: a patch and a fixture lookup their own code doesn't name.
HELPERS: Final = """
from unittest import mock


class Thing:
    value = "real"


def swapped():
    return mock.patch.object(Thing, "value", "swapped")


def environ_set():
    return mock.patch.dict("os.environ", {"AWAITEST_SET": "1"})
"""


def test_a_patch_reached_through_called_code_beside_other_tests_fails_that_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        helpers=HELPERS,
        test_refused="""
        import asyncio
        import os
        import pytest
        import helpers

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]
        arrived = []
        everyone = {}

        async def all_in_flight():
            # the three go on together, in one round of the batch's loop (one at a time,
            # each on a loop of its own, nobody else comes: each waits 0.2 s and goes on)
            here = everyone.setdefault(asyncio.get_running_loop(), asyncio.Event())
            arrived.append(None)
            if len(arrived) == 3:
                here.set()
            try:
                await asyncio.wait_for(here.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

        async def test_swaps():
            await all_in_flight()
            try:
                with helpers.swapped():
                    await asyncio.sleep(0.05)
            except Exception:
                pass  # the refusal is no Exception: it can't be swallowed

        async def test_sets_environ():
            await all_in_flight()
            with helpers.environ_set():
                await asyncio.sleep(0.05)

        async def test_sees_the_real_ones():
            await all_in_flight()
            await asyncio.sleep(0.03)
            assert helpers.Thing.value == "real"
            assert "AWAITEST_SET" not in os.environ

        @pytest.mark.awaitest(concurrent=False)
        async def test_alone_may_patch():
            with helpers.swapped():
                await asyncio.sleep(0)
                assert helpers.Thing.value == "swapped"
        """,
    )
    result = pytester.runpytest(*CONCURRENT[:-1], "3", "-v")
    result.assert_outcomes(passed=2, failed=2)
    assert verdicts(result) == {
        "test_swaps": "FAILED",
        "test_sets_environ": "FAILED",
        "test_sees_the_real_ones": "PASSED",
        "test_alone_may_patch": "PASSED",
    }
    result.stdout.fnmatch_lines(
        [
            "E * Failed: test_refused.py::test_swaps called mock.patch('helpers.Thing.value') "
            "while other tests ran beside it (test_refused.py::test_sets_environ, "
            "test_refused.py::test_sees_the_real_ones): every test in flight would see the "
            "patch; run it alone: @pytest.mark.awaitest(concurrent=False)",
            "E * Failed: test_refused.py::test_sets_environ called "
            "mock.patch.dict('os.environ') while other tests ran beside it "
            "(test_refused.py::test_swaps, test_refused.py::test_sees_the_real_ones): every "
            "test in flight would see the patch; run it alone: "
            "@pytest.mark.awaitest(concurrent=False)",
        ]
    )
    # one at a time through the same machinery: nothing is beside them, nothing is refused
    alone = pytester.runpytest(*CONCURRENT[:-1], "1")
    alone.assert_outcomes(passed=4)


def test_a_patch_a_fixture_leaves_in_place_keeps_the_next_test_from_joining(
    pytester: pytest.Pytester,
) -> None:
    # alone in its batch when its fixture patches: allowed, and the batch ends before the next
    pytester.makepyfile(
        helpers=HELPERS,
        test_fixture_patch="""
        import asyncio
        import pytest
        import helpers

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]

        @pytest.fixture
        def thing():
            with helpers.swapped():
                yield helpers.Thing

        async def test_patched(thing):
            await asyncio.sleep(0.02)
            assert thing.value == "swapped"

        async def test_next():
            await asyncio.sleep(0)
            assert helpers.Thing.value == "real"

        async def test_last():
            await asyncio.sleep(0)
        """,
    )
    result = pytester.runpytest(*CONCURRENT[:-1], "3", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["concurrency: 3 tests ran concurrently (at most 2 at once), 0 ran alone"]
    )


def test_getfixturevalue_from_a_test_in_flight_beside_others_fails_that_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_lookup="""
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]

        @pytest.fixture
        def number():
            return 3

        @pytest.fixture
        def lookup(request):
            return request.getfixturevalue

        async def test_looks_up(lookup):
            await asyncio.sleep(0.01)
            assert lookup("number") == 3

        async def test_beside():
            await asyncio.sleep(0.03)
        """,
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(passed=1, failed=1)
    assert verdicts(result) == {"test_looks_up": "FAILED", "test_beside": "PASSED"}
    assert "_batches.py" not in result.stdout.str()  # none of awaitest's frames
    result.stdout.fnmatch_lines(
        [
            '>       assert lookup("number") == 3',
            "E * Failed: test_lookup.py::test_looks_up called request.getfixturevalue('number') "
            "while other tests ran beside it (test_lookup.py::test_beside): get it as an "
            "argument of the test or of a fixture; run it alone: "
            "@pytest.mark.awaitest(concurrent=False)",
        ]
    )
    alone = pytester.runpytest(*CONCURRENT[:-1], "1")
    alone.assert_outcomes(passed=2)


def test_finalizers_added_from_a_tests_call_run_in_its_own_teardown(
    pytester: pytest.Pytester,
) -> None:
    # test_node's task adds to its node while test_sets_up's async fixture is being set up
    # (its SetupState entry is off the stack then); test_1 and test_2 add through their
    # fixture's own request while its definition is parked
    pytester.makepyfile(
        test_finalizers="""
        import asyncio
        import pytest
        import pytest_asyncio

        pytestmark = [pytest.mark.awaitest(concurrent=True)]
        done = []

        @pytest.fixture
        def to_node(request):
            return request.node.addfinalizer

        @pytest.fixture
        def add(request):
            yield request.addfinalizer
            done.append(f"{request.node.name} torn down")

        @pytest_asyncio.fixture
        async def slow():
            await asyncio.sleep(0.05)
            yield

        @pytest.mark.asyncio
        async def test_node(to_node):
            await asyncio.sleep(0.01)
            to_node(lambda: done.append("test_node's"))

        @pytest.mark.asyncio
        async def test_sets_up(slow, to_node):
            to_node(lambda: done.append("test_sets_up's"))

        def test_y_between():
            pass

        @pytest.mark.asyncio
        async def test_1(add):
            await asyncio.sleep(0.02)
            add(lambda: done.append("test_1's"))

        @pytest.mark.asyncio
        async def test_2(add):
            await asyncio.sleep(0.01)
            add(lambda: done.append("test_2's"))

        def test_zz_each_in_its_own_teardown():
            assert done == [
                "test_node's",
                "test_sets_up's",
                "test_1's",
                "test_1 torn down",
                "test_2's",
                "test_2 torn down",
            ]
        """
    )
    result = pytester.runpytest(*CONCURRENT)
    result.assert_outcomes(passed=6)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["concurrency: 4 tests ran concurrently (at most * at once), 2 ran alone"]
    )


def test_skip_xfail_and_raises_work_in_concurrent_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]

        async def test_skips():
            await asyncio.sleep(0)
            pytest.skip("after an await")

        @pytest.mark.xfail(reason="known")
        async def test_xfails():
            await asyncio.sleep(0)
            assert 0

        @pytest.mark.xfail(strict=True)
        async def test_xpasses():
            await asyncio.sleep(0)

        async def test_raises():
            await asyncio.sleep(0)
            with pytest.raises(ValueError, match="bad"):
                raise ValueError("bad")

        @pytest.mark.skip(reason="never set up")
        async def test_skipped_by_mark():
            raise AssertionError
        """
    )
    result = pytester.runpytest(*CONCURRENT[:-1], "10", "-v", "-rA")
    result.assert_outcomes(passed=1, skipped=2, xfailed=1, failed=1)
    assert verdicts(result) == {
        "test_skips": "SKIPPED",
        "test_xfails": "XFAIL",
        "test_xpasses": "FAILED",
        "test_raises": "PASSED",
        "test_skipped_by_mark": "SKIPPED",
    }
    result.stdout.fnmatch_lines(["FAILED test_*.py::test_xpasses*"])


def test_xdist_workers_each_run_their_tests_concurrently(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one=PAIR.format(wait=5), test_two=PAIR.format(wait=5))
    result = pytester.runpytest(
        "-p", "xdist", "-n", "2", "--dist", "loadfile", "--asyncio-concurrency", "2"
    )
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--setup-show"], "--setup-show"),
        (["-o", "log_cli=true"], "log_cli"),
        # a test in flight leaves pytest's protocol, where pytest-rerunfailures reruns it
        (["--reruns", "1"], "--reruns"),
        (["--force-reruns", "1"], "--force-reruns"),
        (["-o", "reruns=1"], "reruns"),
    ],
)
def test_concurrency_is_off_for_runs_that_write_between_phases_or_rerun(
    pytester: pytest.Pytester, args: list[str], why: str
) -> None:
    pytester.makepyfile(test_pair=PAIR.format(wait=0.2))
    result = pytester.runpytest("-p", "no:randomly", "--asyncio-concurrency", "4", *args)
    result.assert_outcomes(passed=1, failed=1)  # one at a time
    if "reruns" in why:
        assert result.parseoutcomes()["rerun"] == 1
    result.stdout.fnmatch_lines(
        [
            f"awaitest concurrency: off for this run ({why}): every test runs alone; "
            "asyncio_concurrency=4 applies without it"
        ]
    )
    assert "ran concurrently" not in result.stdout.str()


def test_a_test_marked_flaky_runs_alone_and_is_rerun(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_flaky="""
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]
        tries = []

        @pytest.mark.flaky(reruns=2)
        async def test_flaky():
            tries.append(1)
            await asyncio.sleep(0)
            assert len(tries) == 2

        async def test_1():
            await asyncio.sleep(0)

        async def test_2():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(*CONCURRENT, "-v")
    outcomes = result.parseoutcomes()
    assert (outcomes["passed"], outcomes.get("failed", 0), outcomes["rerun"]) == (3, 0, 1)
    result.stdout.fnmatch_lines(
        [
            "test_flaky.py::test_flaky ran alone: it is marked @pytest.mark.flaky (reruns)",
            "concurrency: 2 tests ran concurrently (at most 2 at once), 1 ran alone",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "asyncio_concurrency=many"],
            "ERROR: 'many' is not a valid asyncio_concurrency. Valid values: a whole number "
            ">= 0 of tests in flight at once (0 turns it off).",
        ),
        (
            ["--asyncio-concurrency", "-1"],
            "ERROR: '-1' is not a valid asyncio_concurrency. Valid values: a whole number "
            ">= 0 of tests in flight at once (0 turns it off).",
        ),
        (
            ["-o", "asyncio_concurrent_tests=some"],
            "ERROR: 'some' is not a valid asyncio_concurrent_tests. Valid values: marked, all.",
        ),
    ],
)
def test_a_bad_setting_is_a_usage_error_naming_the_key(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.lines


def test_a_bad_concurrent_keyword_fails_that_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.awaitest(concurrent="yes")
        async def test_bad():
            pass
        """
    )
    result = pytester.runpytest("--asyncio-concurrency", "2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_bad: mark.awaitest 'concurrent' must be True or False, but got 'yes'"]
    )


def test_ctrl_c_cancels_every_test_in_flight_and_tears_each_down_once(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import os
        import signal
        import pytest
        import pytest_asyncio

        # A run started as a background job without job control inherits SIGINT ignored, and
        # Python then installs no KeyboardInterrupt handler: give it back, as a terminal has it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        pytestmark = [pytest.mark.asyncio, pytest.mark.awaitest(concurrent=True)]

        @pytest_asyncio.fixture
        async def resource(request):
            yield
            print(f"teardown of {request.node.name} ran")

        async def test_interrupts(resource):
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("test_interrupts cancelled")
                raise

        async def test_waits(resource):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("test_waits cancelled")
                raise

        async def test_never_runs():
            print("third test ran")
        """
    )
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:randomly", "--asyncio-concurrency", "2", timeout=60
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.stdout.str()
    assert output.count("teardown of test_interrupts ran") == 1
    assert output.count("teardown of test_waits ran") == 1
    assert "test_interrupts cancelled" in output
    assert "test_waits cancelled" in output
    assert "third test ran" not in output
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])


def test_each_calls_duration_is_its_own_task_and_the_calls_overlap(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        calls = {}

        def pytest_runtest_logreport(report):
            if report.when == "call":
                calls[report.nodeid.split("::")[-1]] = (report.start, report.stop, report.duration)
        """
    )
    pytester.makepyfile(
        test_pair=PAIR.format(wait=5),
        test_zz_check="""
        import pytest
        from conftest import calls

        def test_calls_overlap():
            (a_start, a_stop, a_took), (b_start, b_stop, b_took) = calls["test_a"], calls["test_b"]
            assert a_start < b_stop and b_start < a_stop  # in flight at the same time
            assert a_stop - a_start == pytest.approx(a_took, abs=1e-5)  # the task's own time
            assert b_stop - b_start == pytest.approx(b_took, abs=1e-5)
        """,
    )
    pytester.runpytest(*CONCURRENT).assert_outcomes(passed=3)


def test_last_failed_reruns_the_concurrent_test_that_failed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ordered=ORDERED.replace("5)", "0.3)"))
    pytester.runpytest(*CONCURRENT[:-1], "3").assert_outcomes(passed=1, failed=1, skipped=1)
    rerun = pytester.runpytest(*CONCURRENT[:-1], "3", "--lf", "-v")
    # alone, test_1 waits for test_2 in vain: it fails again, and nothing else ran
    rerun.assert_outcomes(failed=1)
    assert verdicts(rerun) == {"test_1": "FAILED"}


def test_a_loop_factory_that_raises_fails_the_test_as_it_does_alone(
    pytester: pytest.Pytester,
) -> None:
    """The batch's loop can't be made: the test runs the normal way, its setup reports the
    factory's error with the user's frame only, and the run goes on."""
    pytester.makepyfile(loops="def broken_loop():\n    raise RuntimeError('no loop today')\n")
    pytester.makepyfile(
        test_one="""
        import pytest

        pytestmark = pytest.mark.awaitest(concurrent=True)

        @pytest.mark.asyncio(loop_factories=["loops:broken_loop"])
        async def test_broken():
            pass

        @pytest.mark.asyncio
        async def test_fine():
            pass
        """
    )
    pytester.syspathinsert()
    result = pytester.runpytest(*CONCURRENT, "-v")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_broken _*",
            "",
            "    def broken_loop():",
            ">       raise RuntimeError('no loop today')",
            "E       RuntimeError: no loop today",
            "",
            "loops.py:2: RuntimeError",
            "*= awaitest concurrency =*",
            "test_one.py::test_broken ran alone: its loop factory raised (its setup reports the "
            "error)",
            "concurrency: 1 test ran concurrently (at most 1 at once), 1 ran alone",
        ],
        consecutive=False,
    )
