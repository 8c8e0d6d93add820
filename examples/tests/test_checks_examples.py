"""The mistakes awaitest catches, one per check. Each test here contains the bug on purpose;
``xfail(strict=True)`` keeps the suite green only as long as awaitest keeps catching it.
(docs/checks/ has the before/after for each one, including leaked tasks and blocking calls.)"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest


async def save(record: dict[str, int]) -> None:
    await asyncio.sleep(0)
    record["saved"] = 1


@pytest.mark.xfail(strict=True, reason="awaitest fails a test that never awaits a coroutine")
async def test_forgotten_await() -> None:
    record: dict[str, int] = {}
    save(record)  # the bug: missing await, so nothing is saved and no error is raised
    assert record == {}  # passes: without awaitest this test would be green


@pytest.mark.xfail(strict=True, reason="awaitest fails a test whose background task crashed")
async def test_background_task_crashed() -> None:
    async def worker() -> None:
        raise ValueError("worker crashed")

    task = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0.01)  # the bug: the task is never awaited, its error never seen
    del task


@pytest.mark.xfail(strict=True, reason="awaitest fails a test that runs past its deadline")
@pytest.mark.asyncio(timeout=0.1)
async def test_hangs() -> None:
    never = asyncio.Event()
    await never.wait()  # the bug: nothing ever sets the event


# Leaked tasks are reported after the test's teardown (a warning by default, an error with
# asyncio_task_leaks = error), so the example shows the fix rather than the bug: a background
# task owned by a fixture that cancels and awaits it. Without that teardown, awaitest would
# name this task and the line that created it (docs/checks/task-leaks.md has the output).
@pytest.fixture
async def heartbeat() -> AsyncIterator[list[int]]:
    beats: list[int] = []

    async def beat() -> None:
        while True:
            beats.append(len(beats))
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(beat())
    yield beats
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_background_task_owned_by_a_fixture(heartbeat: list[int]) -> None:
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(heartbeat) >= 2
