"""Backend-neutral concurrency with anyio: the same code runs on asyncio and on trio.

``run_limited`` runs jobs concurrently, at most ``limit`` at a time, and returns their
results in job order. If a job fails, the others are cancelled and the failure is raised
in an ExceptionGroup (anyio task-group semantics); if ``timeout`` passes first, everything
is cancelled and TimeoutError is raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

T = TypeVar("T")


async def run_limited(
    jobs: Sequence[Callable[[], Awaitable[T]]],
    *,
    limit: int,
    timeout: float | None = None,
) -> list[T]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    results: dict[int, T] = {}
    limiter = anyio.CapacityLimiter(limit)

    async def run_one(index: int, job: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            results[index] = await job()

    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            for index, job in enumerate(jobs):
                tg.start_soon(run_one, index, job)
    return [results[index] for index in range(len(jobs))]
