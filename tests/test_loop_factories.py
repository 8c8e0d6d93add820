"""Loop factories: the ini keys, the pytest_asyncio_loop_factories hook, the marker's subset."""

from __future__ import annotations

import re

import pytest
from _helpers import ini

#: Why a test is exempt from AWAITEST_SUITE_CONCURRENCY (see tests/conftest.py).
OUTPUT_BEFORE_ITS_LINE = (
    "asserts -s output right after its test's -v line; a concurrent test's call, "
    "and its output, comes before that line"
)

uvloop = pytest.importorskip("uvloop")

# A module every run below can import factories from, by name, like a user's project would.
FACTORIES = """
import asyncio

class LoopA(asyncio.SelectorEventLoop):
    pass

class LoopB(asyncio.SelectorEventLoop):
    pass
"""

LOOP_TYPE_TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_async():
    print("ran on", type(asyncio.get_running_loop()).__name__)

def test_sync():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(loops=FACTORIES)
    pytester.syspathinsert()
    return pytester


@pytest.mark.serial_only(OUTPUT_BEFORE_ITS_LINE)
@pytest.mark.parametrize(
    ("keys", "passed", "lines"),
    [
        pytest.param(
            {},
            2,
            ["*::test_async ran on _UnixSelectorEventLoop", "PASSED*", "*::test_sync PASSED*"],
            id="default",
        ),
        pytest.param(
            {"asyncio_loop_factories": "asyncio uvloop"},
            3,
            [
                "*::test_async[[]asyncio[]] ran on _UnixSelectorEventLoop",
                "PASSED*",
                "*::test_async[[]uvloop[]] ran on Loop",
                "PASSED*",
                "*::test_sync PASSED*",
            ],
            id="two-names",
        ),
        pytest.param(
            {"asyncio_loop_factories": "loops:LoopA, loops.LoopB"},
            3,
            [
                "*::test_async[[]loops:LoopA[]] ran on LoopA",
                "PASSED*",
                "*::test_async[[]loops.LoopB[]] ran on LoopB",
                "PASSED*",
                "*::test_sync PASSED*",
            ],
            id="dotted-paths",
        ),
        pytest.param(
            {"event_loop_policy": "uvloop.EventLoopPolicy"},
            2,
            ["*::test_async ran on Loop", "PASSED*", "*::test_sync PASSED*"],
            id="policy",
        ),
    ],
)
def test_ini_factories_parametrize_async_tests_only(
    project: pytest.Pytester, keys: dict[str, str], passed: int, lines: list[str]
) -> None:
    ini(project, **keys)
    project.makepyfile(test_loops=LOOP_TYPE_TESTS)
    result = project.runpytest("-v", "-s")
    result.assert_outcomes(passed=passed)
    result.stdout.fnmatch_lines(lines)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "asyncio_loop_factories",
            "asyncio nosuchloop",
            "ERROR: asyncio_loop_factories: 'nosuchloop' is not a known loop factory; use "
            "'asyncio', 'uvloop' or a 'module:callable' path",
        ),
        (
            "asyncio_loop_factories",
            "loops:Missing",
            "ERROR: asyncio_loop_factories: can't import 'loops:Missing': module 'loops' has "
            "no attribute 'Missing'",
        ),
        (
            "event_loop_policy",
            "nosuchmodule.Policy",
            "ERROR: event_loop_policy: can't import 'nosuchmodule.Policy' (No module named "
            "'nosuchmodule'); check the spelling and that it is installed",
        ),
    ],
)
def test_factory_that_cannot_be_loaded_is_a_usage_error(
    project: pytest.Pytester, key: str, value: str, message: str
) -> None:
    ini(project, **{key: value})
    project.makepyfile(test_loops=LOOP_TYPE_TESTS)
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


HOOK = """
import loops

def pytest_asyncio_loop_factories(config, item):
    return {"a": loops.LoopA, "b": loops.LoopB}
"""


@pytest.mark.serial_only(OUTPUT_BEFORE_ITS_LINE)
@pytest.mark.parametrize(
    ("marker", "outcomes", "lines"),
    [
        pytest.param(
            "@pytest.mark.asyncio",
            {"passed": 3},
            ["*::test_async[[]a[]] ran on LoopA", "*::test_async[[]b[]] ran on LoopB"],
            id="all",
        ),
        pytest.param(
            '@pytest.mark.asyncio(loop_factories=["b"])',
            {"passed": 2},
            ["*::test_async ran on LoopB"],
            id="subset-of-one-has-no-id",
        ),
        pytest.param(
            '@pytest.mark.asyncio(loop_factories=["b", "gone"])',
            {"passed": 2, "skipped": 1},
            [
                "*::test_async[[]b[]] ran on LoopB",
                "SKIPPED [[]1[]] test_loops.py:4: Loop factory 'gone' is not available for "
                "this test; pytest_asyncio_loop_factories offers 'a', 'b'",
            ],
            id="unknown-name-skipped",
        ),
    ],
)
def test_hook_factories_and_marker_subset(
    project: pytest.Pytester, marker: str, outcomes: dict[str, int], lines: list[str]
) -> None:
    project.makeconftest(HOOK)
    project.makepyfile(test_loops=LOOP_TYPE_TESTS.replace("@pytest.mark.asyncio", marker))
    result = project.runpytest("-v", "-s", "-rs")
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(lines)


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("return None", "None"),
        ("return {}", "{}"),
        ("return [loops.LoopA]", "[<class 'loops.LoopA'>]"),
        ("return {'a': 1}", "{'a': 1}"),
    ],
)
def test_hook_must_return_named_factories(project: pytest.Pytester, body: str, shown: str) -> None:
    project.makeconftest(
        f"import loops\n\ndef pytest_asyncio_loop_factories(config, item):\n    {body}\n"
    )
    project.makepyfile(test_loops=LOOP_TYPE_TESTS)
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_loops.py::test_async: pytest_asyncio_loop_factories must return a non-empty "
            "mapping of factory names to loop factories (callables that return a new event "
            f"loop), not {shown}",
        ]
    )


@pytest.mark.parametrize(
    ("names", "outcome", "line"),
    [
        pytest.param(
            '["uvloop"]',
            "passed",
            "*::test_async ran on Loop",
            marks=pytest.mark.serial_only(OUTPUT_BEFORE_ITS_LINE),
        ),
        (
            '["nosuchloop"]',
            "errors",
            "No hook offers 'nosuchloop', and awaitest can't load it itself: 'nosuchloop' is not "
            "a known loop factory; use 'asyncio', 'uvloop' or a 'module:callable' path",
        ),
    ],
)
def test_marker_names_without_a_hook_are_loaded_by_name(
    project: pytest.Pytester, names: str, outcome: str, line: str
) -> None:
    marker = f"@pytest.mark.asyncio(loop_factories={names})"
    project.makepyfile(test_loops=LOOP_TYPE_TESTS.replace("@pytest.mark.asyncio", marker))
    result = project.runpytest("-v", "-s")
    if outcome == "passed":
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([line])


@pytest.mark.parametrize("scope", ["module", "package", "session"])
@pytest.mark.parametrize("source", ["hook", "ini"])
def test_wider_async_fixture_is_made_again_for_each_factory(
    project: pytest.Pytester, scope: str, source: str
) -> None:
    if source == "hook":
        project.makeconftest(HOOK)
    else:
        ini(project, asyncio_loop_factories="loops:LoopA loops:LoopB")
    project.makepyfile(
        test_loops=f"""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="{scope}")
        async def made_on():
            loop = asyncio.get_running_loop()
            print("setup on", type(loop).__name__)
            yield loop
            assert asyncio.get_running_loop() is loop
            print("teardown on", type(loop).__name__)

        @pytest.mark.asyncio(loop_scope="{scope}")
        async def test_one(made_on):
            assert made_on is asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="{scope}")
        async def test_two(made_on):
            assert made_on is asyncio.get_running_loop()
        """
    )
    result = project.runpytest("-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*setup on LoopA*",
            "*teardown on LoopA*",
            "*setup on LoopB*",
            "*teardown on LoopB*",
        ]
    )
    assert result.stdout.str().count("setup on") == 2


@pytest.mark.serial_only(OUTPUT_BEFORE_ITS_LINE)
def test_hook_of_a_nested_conftest_wins_there(project: pytest.Pytester) -> None:
    project.makeconftest(HOOK)
    sub = project.mkdir("sub")
    sub.joinpath("conftest.py").write_text(
        "import asyncio\n\n"
        "def pytest_asyncio_loop_factories(config, item):\n"
        "    return {'only': asyncio.new_event_loop}\n"
    )
    sub.joinpath("test_sub.py").write_text(LOOP_TYPE_TESTS)
    project.makepyfile(test_root=LOOP_TYPE_TESTS)
    result = project.runpytest("-v", "-s")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines_random(
        [
            "*test_root.py::test_async[[]a[]] ran on LoopA",
            "*test_root.py::test_async[[]b[]] ran on LoopB",
            "*sub/test_sub.py::test_async ran on _UnixSelectorEventLoop",
        ]
    )


def test_declared_sync_fixture_sees_the_loop_the_test_runs_on(project: pytest.Pytester) -> None:
    project.makeconftest(HOOK)
    project.makepyfile(
        test_loops="""
        import asyncio
        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture
        def current_loop():
            loop = asyncio.get_event_loop()
            yield loop
            assert asyncio.get_event_loop() is loop

        @pytest.mark.asyncio
        async def test_same_loop(current_loop):
            assert current_loop is asyncio.get_running_loop()
        """
    )
    project.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize("value", ['[""]', '["a", ""]'])
def test_empty_factory_name_is_a_marker_error(project: pytest.Pytester, value: str) -> None:
    project.makeconftest(HOOK)
    marker = f"@pytest.mark.asyncio(loop_factories={value})"
    project.makepyfile(test_loops=LOOP_TYPE_TESTS.replace("@pytest.mark.asyncio", marker))
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    shown = re.sub(r"([][])", r"[\1]", value.replace('"', "'"))  # fnmatch-escaped
    result.stdout.fnmatch_lines(
        [
            "test_loops.py::test_async: mark.asyncio 'loop_factories' must be a non-empty "
            f"sequence of factory names, e.g. loop_factories=[[]'asyncio'[]], but got {shown}",
        ]
    )


def test_user_event_loop_fixture_wins_over_factories(project: pytest.Pytester) -> None:
    project.makeconftest(
        HOOK
        + """
import asyncio
import pytest


@pytest.fixture(scope="session")
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
"""
    )
    project.makepyfile(test_loops=LOOP_TYPE_TESTS)
    result = project.runpytest("-v", "-s")
    result.assert_outcomes(passed=2)
    # looptime, installed for tests/test_looptime.py, patches every event_loop fixture's loop
    # (its class becomes Looptime_UnixSelectorEventLoop, off until a test turns it on)
    result.stdout.fnmatch_lines(["*::test_async ran on *_UnixSelectorEventLoop", "PASSED*"])
