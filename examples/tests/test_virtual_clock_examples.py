"""awaitest's virtual clock: the examples of docs/virtual-clock.md, runnable.

A retry with exponential backoff over an hour, a TTL cache, ``wait_for`` and ``asyncio.timeout``
deadlines: each test waits minutes or hours of loop time and takes milliseconds. The
``virtual_clock`` fixture is awaitest's own (pytest-asyncio has nothing like it), so under
pytest-asyncio this module is not collected (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from awaitest import VirtualClock


# --- A retry with exponential backoff, over an hour ---------------------------------------------


async def call_with_backoff(
    operation: Callable[[], Awaitable[Any]], *, attempts: int, first_delay: float, max_delay: float
) -> Any:
    delay = first_delay
    for attempt in range(attempts):
        try:
            return await operation()
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise ValueError("attempts must be at least 1")


@pytest.mark.asyncio
async def test_gives_up_after_an_hour(virtual_clock: VirtualClock) -> None:
    loop = asyncio.get_running_loop()
    calls = []

    async def service_down() -> None:
        calls.append(loop.time())
        raise ConnectionError("service down")

    with pytest.raises(ConnectionError):
        await call_with_backoff(service_down, attempts=10, first_delay=10, max_delay=1200)

    # 10, 20, 40, ... seconds between attempts, capped at 20 minutes: 3670 s in all.
    assert calls == [0, 10, 30, 70, 150, 310, 630, 1270, 2470, 3670]


@pytest.mark.asyncio
async def test_recovers_when_the_service_comes_back(virtual_clock: VirtualClock) -> None:
    loop = asyncio.get_running_loop()

    async def down_for_twenty_minutes() -> str:
        if loop.time() < 20 * 60:
            raise ConnectionError("service down")
        return "ok"

    result = await call_with_backoff(
        down_for_twenty_minutes, attempts=10, first_delay=10, max_delay=1200
    )
    assert result == "ok"
    assert loop.time() == 1270  # the first attempt after the outage ended


# --- A TTL cache --------------------------------------------------------------------------------


class TTLCache:
    """Entries expire ``ttl`` seconds after they were set, by the running loop's clock."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[object, float]] = {}

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def set(self, key: str, value: object) -> None:
        self._entries[key] = (value, self._now() + self._ttl)

    def get(self, key: str, default: object = None) -> object:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, expires_at = entry
        if self._now() >= expires_at:
            del self._entries[key]
            return default
        return value


@pytest.mark.asyncio
async def test_entry_expires_after_ttl(virtual_clock: VirtualClock) -> None:
    cache = TTLCache(ttl=300)
    cache.set("token", "abc")

    virtual_clock.advance(299)
    assert cache.get("token") == "abc"

    virtual_clock.advance(1)
    assert cache.get("token") is None


@pytest.mark.asyncio
async def test_refreshed_entry_lives_on(virtual_clock: VirtualClock) -> None:
    cache = TTLCache(ttl=300)
    cache.set("token", "abc")
    await asyncio.sleep(200)
    cache.set("token", "def")
    await asyncio.sleep(200)
    assert cache.get("token") == "def"
    await asyncio.sleep(100)
    assert cache.get("token") is None


# --- wait_for and asyncio.timeout deadlines -----------------------------------------------------


async def slow_query() -> list[str]:
    await asyncio.sleep(120)  # stands in for a query that takes two minutes
    return ["row"]


@pytest.mark.asyncio
async def test_query_times_out_after_30_seconds(virtual_clock: VirtualClock) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow_query(), timeout=30)
    assert loop.time() == 30


@pytest.mark.asyncio
async def test_query_within_the_deadline(virtual_clock: VirtualClock) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(600):
        assert await slow_query() == ["row"]
    assert loop.time() == 120
