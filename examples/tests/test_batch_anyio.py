"""Seed 002: anyio tests, run once on asyncio and once on trio.

``@pytest.mark.anyio`` hands these tests to anyio's own pytest plugin (installed with
anyio), which runs each on the backend named by the ``anyio_backend`` fixture. awaitest
leaves anyio-marked tests to anyio, even in auto mode.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import anyio
import pytest
import sniffio

from notesapp.batch import run_limited

pytestmark = pytest.mark.anyio


def _pytest_asyncio_installed() -> bool:
    """True under the real pytest-asyncio; False under awaitest, which provides the module."""
    try:
        version("pytest-asyncio")
    except PackageNotFoundError:
        return False
    return True


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_runs_on_the_requested_backend(anyio_backend: str) -> None:
    if anyio_backend == "trio" and _pytest_asyncio_installed():
        pytest.xfail("pytest-asyncio in auto mode claims anyio tests and runs them on asyncio")
    assert sniffio.current_async_library() == anyio_backend


async def test_results_come_back_in_job_order() -> None:
    async def job(value: int, delay: float) -> int:
        await anyio.sleep(delay)
        return value

    jobs = [lambda v=v, d=d: job(v, d) for v, d in [(1, 0.03), (2, 0.0), (3, 0.01)]]
    assert await run_limited(jobs, limit=3) == [1, 2, 3]


async def test_never_more_than_limit_jobs_at_once() -> None:
    running = 0
    peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.005)
        running -= 1

    await run_limited([job] * 8, limit=3)
    assert peak == 3


async def test_a_failing_job_cancels_the_others() -> None:
    finished: list[str] = []

    async def fails() -> None:
        await anyio.sleep(0.01)
        raise ValueError("boom")

    async def slow() -> None:
        await anyio.sleep(10)
        finished.append("slow")

    with pytest.raises(ExceptionGroup) as excinfo:
        await run_limited([fails, slow], limit=2)
    assert excinfo.group_contains(ValueError, match="boom")
    assert finished == []


async def test_timeout_cancels_everything() -> None:
    async def hangs() -> None:
        await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await run_limited([hangs, hangs], limit=2, timeout=0.05)


async def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await run_limited([], limit=0)
