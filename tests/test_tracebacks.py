"""A user's failure shows the user's traceback: no frames of ours, no chained exceptions of ours.

pytest cuts a traceback at the test's own file when it can, so a fixture in the test module
hides much of what is between; a fixture in a conftest shows every frame from pytest to the
user's line that is not hidden. Both are tested.

pytester names each run's directory after the test, so no test here has our package's name in
its own: the paths of the user's files must not match the pattern that finds ours.
"""

from __future__ import annotations

import os

import pytest
from _helpers import ini

#: Why a test is exempt from AWAITEST_SUITE_CONCURRENCY (see tests/conftest.py).
REPORT_THEN_SUMMARY = (
    "asserts its error's report runs straight into the short test summary; concurrency adds "
    "its summary section between"
)

FIXTURE = """
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def broken():
    {body}
"""

USES_IT = """
import pytest

@pytest.mark.asyncio
async def test_uses(broken):
    pass
"""

RAISES = 'raise ValueError("no database")'
# looptime (installed for its own tests) wraps every fixture setup and test call; its frames
# are its own, shown as they are beside pytest-asyncio, so these runs leave it out.
NOT_OURS = ("-p", "no:looptime_plugin")


@pytest.mark.parametrize("fixtures_in", ["test-module", "conftest"])
@pytest.mark.parametrize(
    ("body", "outcome", "header", "line"),
    [
        pytest.param([RAISES], {"errors": 1}, "setup", 6, id="coroutine-setup"),
        pytest.param([RAISES, "yield"], {"errors": 1}, "setup", 6, id="generator-setup"),
        pytest.param(
            ["yield", RAISES],
            {"passed": 1, "errors": 1},
            "teardown",
            7,
            id="generator-teardown",
            marks=pytest.mark.serial_only(REPORT_THEN_SUMMARY),  # its test ran: the section
        ),
    ],
)
def test_failing_fixture_shows_only_the_users_frame(
    pytester: pytest.Pytester,
    *,
    mode: str,
    fixtures_in: str,
    body: list[str],
    outcome: dict[str, int],
    header: str,
    line: int,
) -> None:
    fixture = FIXTURE.format(body="\n    ".join(body))
    if fixtures_in == "conftest":
        pytester.makeconftest(fixture)
        pytester.makepyfile(test_broken=USES_IT)
        where = "conftest.py"
    else:
        pytester.makepyfile(test_broken=fixture + USES_IT)
        where = "test_broken.py"
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(
        [
            f"*_ ERROR at {header} of test_uses _*",
            "",
            "    @pytest_asyncio.fixture",
            "    async def broken():",
            *[f"        {statement}" for statement in body[: body.index(RAISES)]],
            '>       raise ValueError("no database")',
            "E       ValueError: no database",
            "",
            f"{where}:{line}: ValueError",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )


# -- no frame of ours, wherever the user's code fails ----------------------------------------

#: A traceback entry in one of our modules, wherever the package is installed.
OUR_FRAME = f"*{os.sep}awaitest{os.sep}*.py:*"
CHAINED = ["*During handling of the above exception*", "*The above exception was the direct*"]

FIXTURES = """
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def coroutine_setup_fails():
    raise ValueError("setup failed")

@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def generator_setup_fails():
    raise ValueError("setup failed")
    yield

@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def generator_teardown_fails():
    yield
    raise ValueError("teardown failed")

@pytest_asyncio.fixture(scope="{scope}", loop_scope="{scope}")
async def setup_hangs():
    await asyncio.sleep(30)
    yield

@pytest.fixture(scope="{scope}")
def sync_setup_fails():
    raise ValueError("setup failed")
"""

TEST = """
import asyncio
import pytest

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_one({fixture}):
    {body}
"""

# site -> (fixture, test body, outcome, the line that shows the user's error)
SITES = {
    "test-body": ("", 'raise ValueError("test failed")', {"failed": 1}, "E   *ValueError: test*"),
    "coroutine-fixture-setup": (
        "coroutine_setup_fails",
        "pass",
        {"errors": 1},
        "E   *ValueError: setup failed",
    ),
    "generator-fixture-setup": (
        "generator_setup_fails",
        "pass",
        {"errors": 1},
        "E   *ValueError: setup failed",
    ),
    "generator-fixture-teardown": (
        "generator_teardown_fails",
        "pass",
        {"passed": 1, "errors": 1},
        "E   *ValueError: teardown failed",
    ),
    "sync-fixture-setup": ("sync_setup_fails", "pass", {"errors": 1}, "E   *ValueError: setup*"),
    "timeout-in-test": ("", "await asyncio.sleep(30)", {"failed": 1}, "timed out after 0.2 s*"),
    "timeout-in-fixture": ("setup_hangs", "pass", {"errors": 1}, "timed out after 0.2 s*"),
}
# Where no fixture is used, where fixtures are kept changes nothing.
PLACES = [
    pytest.param(site, scope, fixtures_in, id=f"{site}-{scope}-{fixtures_in}")
    for site, (fixture, *_) in SITES.items()
    for scope in ("function", "module")
    for fixtures_in in (["test-module", "conftest"] if fixture else ["test-module"])
]


@pytest.mark.parametrize(("site", "scope", "fixtures_in"), PLACES)
def test_user_failure_shows_no_frame_of_ours(
    pytester: pytest.Pytester, site: str, scope: str, fixtures_in: str
) -> None:
    fixture, body, outcome, error = SITES[site]
    fixtures = FIXTURES.format(scope=scope)
    test = TEST.format(scope=scope, fixture=fixture, body=body)
    if fixtures_in == "conftest":
        pytester.makeconftest(fixtures)
        pytester.makepyfile(test_one=test)
    else:
        pytester.makepyfile(test_one=fixtures + test)
    ini(pytester, asyncio_timeout="0.2")
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines([error])
    result.stdout.no_fnmatch_line(OUR_FRAME)
    result.stdout.no_fnmatch_line("*All traceback entries are hidden*")
    for line in CHAINED:
        result.stdout.no_fnmatch_line(line)
    # The same run unfiltered does show our frames: the pattern above really finds them.
    result = pytester.runpytest("--fulltrace", *NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines([OUR_FRAME])


BROKEN_FACTORY = """
def broken_loop():
    raise RuntimeError("no loop today")
"""

ON_THE_BROKEN_LOOP = """
import pytest

@pytest.mark.asyncio(loop_factories=["loops:broken_loop"])
async def test_one({fixture}):
    pass
"""


@pytest.mark.serial_only(REPORT_THEN_SUMMARY)
@pytest.mark.parametrize(
    ("fixture", "outcome", "header"),
    [
        ("", {"failed": 1}, "*_ test_one _*"),
        ("broken", {"errors": 1}, "*_ ERROR at setup of test_one _*"),
    ],
    ids=["made-for-the-test", "made-for-its-fixture"],
)
def test_failing_loop_factory_shows_only_the_users_frame(
    pytester: pytest.Pytester, fixture: str, outcome: dict[str, int], header: str
) -> None:
    pytester.makepyfile(loops=BROKEN_FACTORY)
    pytester.makeconftest(FIXTURE.format(body="yield"))
    pytester.makepyfile(test_one=ON_THE_BROKEN_LOOP.format(fixture=fixture))
    pytester.syspathinsert()
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(
        [
            header,
            "",
            "    def broken_loop():",
            '>       raise RuntimeError("no loop today")',
            "E       RuntimeError: no loop today",
            "",
            "loops.py:2: RuntimeError",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )


def test_failing_hypothesis_example_shows_no_frame_of_ours(pytester: pytest.Pytester) -> None:
    # Without hypothesis' explain phase: its "lines always and only run by failing test cases"
    # can name the except clause of Runner.run (not a frame; a known gap, not fixed yet).
    pytester.makepyfile(
        test_examples="""
        import pytest
        from hypothesis import Phase, given, settings, strategies as st

        @pytest.mark.asyncio
        @settings(derandomize=True, database=None, phases=set(Phase) - {Phase.explain})
        @given(st.integers())
        async def test_small(n):
            assert n < 5
        """
    )
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       Failing test case: test_small(", "E           n=5,"])
    result.stdout.no_fnmatch_line(OUR_FRAME)
