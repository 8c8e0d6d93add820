"""The tasks of awaitest's loops: named as asyncio names them."""

from __future__ import annotations

import pytest


def ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")


# -- task names ------------------------------------------------------------------------------

NAMES = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_names():
    unnamed = asyncio.create_task(asyncio.sleep(0))
    named = asyncio.create_task(asyncio.sleep(0), name="worker")
    async with asyncio.TaskGroup() as group:
        grouped = group.create_task(asyncio.sleep(0))
    await asyncio.gather(unnamed, named)
    print("names:", unnamed.get_name(), named.get_name(), grouped.get_name())
    print("repr:", repr(unnamed).split()[0])
"""


@pytest.mark.parametrize("factories", ["asyncio", "uvloop"])
def test_tasks_keep_asyncio_names(pytester: pytest.Pytester, factories: str) -> None:
    """CPython 3.13.0 to 3.13.2 name every task a task factory makes 'None'
    (python/cpython#130033); awaitest's factory, on every test's loop, keeps 'Task-N'."""
    if factories == "uvloop":
        pytest.importorskip("uvloop")
    ini(pytester, f"asyncio_loop_factories = {factories}")
    pytester.makepyfile(NAMES)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r".* names: Task-\d+ worker Task-\d+$"])
    if factories != "uvloop":
        result.stdout.fnmatch_lines(["repr: <Task"])
