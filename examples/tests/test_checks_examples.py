"""The mistakes awaitest catches, one per check. Each test here contains the bug on purpose;
``xfail(strict=True)`` keeps the suite green only as long as awaitest keeps catching it.
(docs/checks/ has the before/after for each one, including leaked tasks and blocking calls.)"""

import asyncio
from importlib.metadata import PackageNotFoundError, version

import pytest


def _pytest_asyncio_installed() -> bool:
    try:
        version("pytest-asyncio")
    except PackageNotFoundError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    _pytest_asyncio_installed(),
    reason="these checks are awaitest's; under pytest-asyncio the bugs pass silently",
)


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
