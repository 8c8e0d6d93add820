"""``--setup-show``: each async fixture's SETUP line and each async test's line end with the loop
it ran on, ``(loop: SCOPE, FACTORY, CLOCK)``; pytest's own lines are otherwise unchanged."""

from __future__ import annotations

import pytest
from _helpers import ini

#: pytest 9.1 puts a space between the test's line and its verdict; older ones don't
V = " " if pytest.version_tuple >= (9, 1) else ""

SUITE = """
import asyncio
import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="module")
async def pool():
    yield "pool"


@pytest_asyncio.fixture
async def db():
    yield "db"


@pytest.fixture
def config():
    return {}


@pytest.mark.asyncio
async def test_on_the_module_loop(pool, db, config):
    print("captured, not shown")


@pytest.mark.asyncio
async def test_alone():
    pass


def test_sync_uses_an_async_fixture(db):
    pass


@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_sleeps_virtually(virtual_clock):
    await asyncio.sleep(3600)
"""


def test_setup_show_names_the_loop_of_each_async_test_and_fixture(
    pytester: pytest.Pytester,
) -> None:
    ini(pytester, asyncio_loop_factories="asyncio uvloop")
    pytester.makepyfile(test_show=SUITE)
    result = pytester.runpytest("--setup-show")
    result.assert_outcomes(passed=6)
    used = "(fixtures used: _asyncio_loop_factory, config, db, pool)"
    lines = []
    for factory in ("asyncio", "uvloop"):
        lines += [
            f"SETUP    S _asyncio_loop_factory['{factory}']",
            f"    SETUP    M pool (loop: module, {factory}, real clock)",
            # a function fixture runs on its test's loop
            f"        SETUP    F db (loop: module, {factory}, real clock)",
            "        SETUP    F config",
            f"        test_show.py::test_on_the_module_loop[[]{factory}[]] {used} "
            f"(loop: module, {factory}, real clock){V}.",
            "        TEARDOWN F config",
            "        TEARDOWN F db",
            "    TEARDOWN M pool",
            f"TEARDOWN S _asyncio_loop_factory['{factory}']",
        ]
    for factory in ("asyncio", "uvloop"):
        lines += [
            f"SETUP    S _asyncio_loop_factory['{factory}']",
            f"        test_show.py::test_alone[[]{factory}[]] (fixtures used: "
            f"_asyncio_loop_factory) (loop: function, {factory}, real clock){V}.",
            f"TEARDOWN S _asyncio_loop_factory['{factory}']",
        ]
    lines += [
        # a sync test's async fixture: on a loop of the fixture's own scope
        "        SETUP    F db (loop: function, asyncio, real clock)",
        f"        test_show.py::test_sync_uses_an_async_fixture (fixtures used: db){V}.",
        "        TEARDOWN F db",
        "        SETUP    F virtual_clock",
        "        test_show.py::test_sleeps_virtually (fixtures used: request, virtual_clock) "
        f"(loop: function, asyncio, virtual clock){V}.",
        "        TEARDOWN F virtual_clock",
    ]
    result.stdout.fnmatch_lines(["test_show.py ", *lines, ""], consecutive=True)
    result.stdout.no_fnmatch_line("*captured, not shown*")


def test_with_v_the_verdict_follows_the_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--setup-show", "-v", "-k", "alone")
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "        test_with_v_the_verdict_follows_the_loop.py::test_alone "
            f"(loop: function, asyncio, real clock){V}PASSED",
        ]
    )


def test_a_policy_and_a_users_event_loop_are_named(pytester: pytest.Pytester) -> None:
    ini(pytester, event_loop_policy="uvloop.EventLoopPolicy")
    pytester.makepyfile(
        test_policy="""
        import pytest, pytest_asyncio

        @pytest_asyncio.fixture
        async def db():
            yield 1

        @pytest.mark.asyncio
        async def test_policy(db):
            pass
        """,
        test_own_loop="""
        import asyncio
        import pytest

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()

        @pytest.mark.asyncio
        async def test_own_loop():
            pass
        """,
    )
    result = pytester.runpytest("--setup-show")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "        SETUP    F db (loop: function, event_loop_policy=uvloop.EventLoopPolicy, "
            "real clock)",
            "        test_policy.py::test_policy (fixtures used: db) "
            f"(loop: function, event_loop_policy=uvloop.EventLoopPolicy, real clock){V}.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "        test_own_loop.py::test_own_loop (fixtures used: event_loop) "
            f"(loop: the event_loop fixture's){V}.",
        ]
    )


@pytest.mark.parametrize("args", [[], ["-v"], ["--setup-plan"]], ids=["plain", "-v", "plan"])
def test_no_loop_is_named_without_setup_show(pytester: pytest.Pytester, args: list[str]) -> None:
    """--setup-plan sets no fixture up, so there is no loop to name (and none is made)."""
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(*args)
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*(loop: *")
