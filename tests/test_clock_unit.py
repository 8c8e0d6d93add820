"""Unit tests of the virtual clock on plain asyncio loops (no plugin involved).

No test sleeps for real: loops use a selector that records every wait the loop asks for, and
tests of ``autojump_threshold`` pretend to wait on a fake real clock.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any

import pytest

from awaitest.clock import VirtualClock, VirtualClockError, jump_beside_threads

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator

# A wait that nothing ends within this long means the code under test forgot to wake the loop.
_HANG = 30.0


class FakeRealTime:
    """Stands in for ``time.monotonic`` in ``VirtualClock._real_clock``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSelector(selectors.SelectSelector):
    """Records how long the loop asks to wait; can pretend to wait on a fake real clock."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self.before_wait: Callable[[float | None], None] | None = None
        self.fake_time: FakeRealTime | None = None
        self.fake_step = math.inf  # longest stretch a pretend wait lasts before returning

    @property
    def waits(self) -> list[float | None]:
        """The calls that could have blocked (everything but polls)."""
        return [t for t in self.timeouts if t != 0]

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.timeouts.append(timeout)
        if len(self.timeouts) > 10_000:
            raise AssertionError("the loop is spinning without making progress")
        if timeout is not None and timeout <= 0:
            return super().select(timeout)
        if self.before_wait is not None:
            self.before_wait(timeout)
        if self.fake_time is not None and timeout is not None:
            events = super().select(0)
            if not events:
                self.fake_time.now += min(timeout, self.fake_step)
            return events
        events = super().select(_HANG if timeout is None else min(timeout, _HANG))
        if not events and (timeout is None or timeout > _HANG):
            raise AssertionError(f"the loop waited {_HANG} real seconds and nothing woke it")
        return events


@pytest.fixture
def selector() -> RecordingSelector:
    return RecordingSelector()


@pytest.fixture(params=[False, True], ids=["plain", "debug"])
def loop(
    selector: RecordingSelector, request: pytest.FixtureRequest
) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.SelectorEventLoop(selector)
    loop.set_debug(request.param)
    yield loop
    loop.close()


@pytest.fixture
def clock(loop: asyncio.AbstractEventLoop) -> Iterator[VirtualClock]:
    clock = VirtualClock()
    clock.attach(loop)
    yield clock
    clock.detach()  # before the loop fixture closes the loop


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(coro)


# --- autojump --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [0.0, 12.25, -50.0])
def test_sleep_an_hour_is_instant_and_exact(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop, start: float
) -> None:
    clock = VirtualClock(start=start)
    clock.attach(loop)
    try:
        assert loop.time() == start

        async def main() -> float:
            await asyncio.sleep(3600)
            return loop.time()

        assert run(loop, main()) == start + 3600
        assert clock.time() == start + 3600
        assert selector.waits == []  # only polls: no real waiting at all
    finally:
        clock.detach()


def test_timers_fire_in_deadline_order(
    loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    fired: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append((name, loop.time()))

    async def main() -> None:
        loop.call_at(2.5, lambda: fired.append(("call_at", loop.time())))
        loop.call_later(7, lambda: fired.append(("call_later", loop.time())))
        async with asyncio.TaskGroup() as tg:
            for name, seconds in [("c", 30), ("a", 1), ("d", 86400 * 3), ("b", 5)]:
                tg.create_task(sleeper(name, seconds))

    run(loop, main())
    assert fired == [
        ("a", 1),
        ("call_at", 2.5),
        ("b", 5),
        ("call_later", 7),
        ("c", 30),
        ("d", 86400 * 3),
    ]


def test_wait_for_times_out_in_virtual_time(
    loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), timeout=30)
        assert loop.time() == 30
        assert await asyncio.wait_for(asyncio.sleep(10, result="done"), timeout=60) == "done"
        assert loop.time() == 40

    run(loop, main())


def test_asyncio_timeout_fires_in_virtual_time(
    loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(3600)
        assert loop.time() == 5
        async with asyncio.timeout_at(loop.time() + 100) as scope:
            await asyncio.sleep(99)
        assert not scope.expired()
        assert loop.time() == 104

    run(loop, main())


def test_time_far_from_zero_still_runs_timers(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    # Past ~1e7 s, asyncio's "deadline < time() + resolution" can't see a timer due at exactly
    # time() as due; the clock must still let it run instead of spinning.
    year = 365 * 86400.0

    async def main() -> None:
        await asyncio.sleep(year)
        await asyncio.sleep(1)
        await asyncio.sleep(1e-12)
        loop.call_later(0, lambda: None)
        await asyncio.sleep(0.5)

    run(loop, main())
    assert loop.time() == pytest.approx(year + 1.5, abs=1e-6)
    assert len(selector.timeouts) < 50


# --- advance() and autojump_threshold ---------------------------------------------------------


def test_advance_runs_due_callbacks_in_order(loop: asyncio.AbstractEventLoop) -> None:
    clock = VirtualClock(autojump_threshold=math.inf)
    clock.attach(loop)
    try:
        fired: list[tuple[int, float]] = []

        def record(n: int) -> None:
            fired.append((n, loop.time()))

        for n in [3, 1, 5, 2]:
            loop.call_later(n, record, n)
        run(loop, asyncio.sleep(0))
        assert fired == []
        clock.advance(4)
        assert loop.time() == 4
        run(loop, asyncio.sleep(0))
        assert fired == [(1, 4), (2, 4), (3, 4)]
        clock.advance(1)
        run(loop, asyncio.sleep(0))
        assert fired == [(1, 4), (2, 4), (3, 4), (5, 5)]
    finally:
        clock.detach()


def test_infinite_threshold_only_advance_moves_time(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop
) -> None:
    clock = VirtualClock(autojump_threshold=math.inf)
    clock.attach(loop)

    def advance_from_outside(timeout: float | None) -> None:
        assert timeout is None  # frozen time: block for I/O, never jump
        loop.call_soon_threadsafe(clock.advance, 5)

    selector.before_wait = advance_from_outside
    try:

        async def main() -> float:
            await asyncio.sleep(5)
            return loop.time()

        assert run(loop, main()) == 5
        assert selector.waits == [None]
    finally:
        clock.detach()


def test_advance_from_another_thread_wakes_the_loop(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop
) -> None:
    clock = VirtualClock(autojump_threshold=math.inf)
    clock.attach(loop)
    loop_blocked = threading.Event()
    selector.before_wait = lambda timeout: loop_blocked.set()

    def other_thread() -> None:
        if loop_blocked.wait(_HANG):
            clock.advance(60)

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        run(loop, asyncio.sleep(60))
        assert loop.time() == 60
    finally:
        thread.join()
        clock.detach()


def test_threshold_waits_that_long_in_real_time_then_jumps(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop
) -> None:
    real = FakeRealTime()
    selector.fake_time = real
    selector.fake_step = 1.0  # the selector returns early: the clock must wait again
    clock = VirtualClock(autojump_threshold=2.5)
    clock._real_clock = real
    clock.attach(loop)
    try:
        run(loop, asyncio.sleep(10))
        assert loop.time() == 10
        assert real.now == 1002.5
        assert selector.waits == [2.5, 1.5, 0.5]
    finally:
        clock.detach()


def test_threshold_can_change_between_jumps(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    real = FakeRealTime()
    selector.fake_time = real
    clock._real_clock = real

    async def main() -> None:
        await asyncio.sleep(1)
        clock.autojump_threshold = 0.25
        await asyncio.sleep(1)
        clock.autojump_threshold = 0
        await asyncio.sleep(1)

    run(loop, main())
    assert clock.autojump_threshold == 0
    assert selector.waits == [0.25]
    assert loop.time() == 3


def test_io_that_arrives_runs_before_the_jump(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    real = FakeRealTime()
    selector.fake_time = real
    clock._real_clock = real
    clock.autojump_threshold = 1.0
    seen: list[tuple[str, float]] = []
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.setblocking(False)

        def send_while_the_loop_waits(timeout: float | None) -> None:
            if not seen:
                writer.send(b"ping")

        selector.before_wait = send_while_the_loop_waits

        async def receive() -> None:
            data = await loop.sock_recv(reader, 16)
            seen.append((data.decode(), loop.time()))

        async def sleep() -> None:
            await asyncio.sleep(10)
            seen.append(("slept", loop.time()))

        async def main() -> None:
            await asyncio.gather(sleep(), receive())

        run(loop, main())
    assert seen == [("ping", 0), ("slept", 10)]
    assert selector.waits == [1.0, 1.0]  # the ping ended the first wait; the second ran out
    assert real.now == 1001.0


def test_thread_jobs_hold_the_jump_back(
    selector: RecordingSelector, loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    # While a job runs in the executor, tasks wait on more than timers: no jump to the
    # wait_for deadline, the loop blocks until the thread wakes it.
    loop_blocked = threading.Event()
    selector.before_wait = lambda timeout: loop_blocked.set()

    def job() -> int:
        assert loop_blocked.wait(_HANG)
        return 42

    async def main() -> int:
        return await asyncio.wait_for(asyncio.to_thread(job), timeout=60)

    assert run(loop, main()) == 42
    assert loop.time() == 0
    run(loop, asyncio.sleep(60))  # and jumps again once the job is done
    assert loop.time() == 60
    run(loop, loop.shutdown_default_executor())


def test_a_jump_beside_a_thread_it_cant_see_is_remembered(
    loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    # A thread of its own (as aiosqlite starts one) answers through call_soon_threadsafe; the
    # clock can't know it is working and jumps to the timeout: remembered, with its name.
    release = threading.Event()
    worker = threading.Thread(target=release.wait, args=(_HANG,), name="own worker")
    worker.start()
    try:
        with pytest.raises(TimeoutError):
            run(loop, asyncio.wait_for(asyncio.sleep(3600), timeout=5))
    finally:
        release.set()
        worker.join()
    assert jump_beside_threads(clock) == (0.0, 5.0, ("own worker",))


def test_no_jump_beside_threads_without_new_ones(
    loop: asyncio.AbstractEventLoop, clock: VirtualClock
) -> None:
    # Threads alive before attach(), and the default executor's workers idle after their
    # (tracked) job, are not counted.
    async def main() -> None:
        await asyncio.to_thread(int)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(3600), timeout=5)

    run(loop, main())
    assert jump_beside_threads(clock) is None
    run(loop, loop.shutdown_default_executor())


# --- real sockets ----------------------------------------------------------------------------


async def _echo_once(payloads: list[bytes]) -> list[bytes]:
    handled = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
            writer.close()
            await writer.wait_closed()
        finally:
            handled.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for payload in payloads:
            writer.write(payload + b"\n")
            await writer.drain()
            replies.append((await reader.readline()).rstrip())
        writer.close()
        await writer.wait_closed()
        await handled.wait()
    return replies


def test_tcp_echo_on_a_virtual_clock_loop() -> None:
    loop = asyncio.new_event_loop()
    clock = VirtualClock()
    clock.attach(loop)
    try:

        async def main() -> list[bytes]:
            replies = await _echo_once([b"hello", b"world"])
            await asyncio.sleep(3600)
            return replies

        assert run(loop, main()) == [b"HELLO", b"WORLD"]
        assert loop.time() == 3600
    finally:
        clock.detach()
        loop.close()


def test_tcp_echo_under_a_pending_timeout() -> None:
    # With a timer pending, a real-seconds threshold lets I/O arrive before time jumps; the
    # echo answers long before it elapses, so nothing waits that long.
    loop = asyncio.new_event_loop()
    clock = VirtualClock(autojump_threshold=_HANG)
    clock.attach(loop)
    try:

        async def main() -> list[bytes]:
            async with asyncio.timeout(60):
                replies = await _echo_once([b"ping"])
            assert loop.time() == 0
            clock.autojump_threshold = 0
            await asyncio.sleep(3600)
            return replies

        assert run(loop, main()) == [b"PING"]
        assert loop.time() == 3600
    finally:
        clock.detach()
        loop.close()


# --- loops that can and can't take the clock ---------------------------------------------------


class SubclassedLoop(asyncio.SelectorEventLoop):
    pass


class MinimalSelectorLoop(asyncio.BaseEventLoop):
    """A custom loop on BaseEventLoop that owns a selector, and no sockets."""

    def __init__(self) -> None:
        super().__init__()
        self._selector = selectors.SelectSelector()

    def _process_events(self, event_list: list[Any]) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def close(self) -> None:
        super().close()
        self._selector.close()


@pytest.mark.parametrize("loop_class", [SubclassedLoop, MinimalSelectorLoop])
def test_custom_selector_loops_take_the_clock(loop_class: type[asyncio.BaseEventLoop]) -> None:
    loop = loop_class()
    clock = VirtualClock()
    clock.attach(loop)
    try:
        run(loop, asyncio.sleep(3600))
        assert loop.time() == 3600
    finally:
        clock.detach()
        loop.close()


def test_uvloop_is_refused_with_the_fix() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        with pytest.raises(
            VirtualClockError,
            match=r"^the virtual clock needs a selector-based asyncio loop, but loop factory "
            r"'uvloop' makes uvloop\.Loop; use the 'asyncio' factory for tests that request "
            r"virtual_clock$",
        ):
            VirtualClock().attach(loop, factory_name="uvloop")
    finally:
        loop.close()


def test_a_loop_without_a_selector_is_refused() -> None:
    class HandMadeLoop(asyncio.AbstractEventLoop):
        pass

    with pytest.raises(
        VirtualClockError,
        match=r"^the virtual clock needs a selector-based asyncio loop, but loop factory "
        r"'my_factory' makes test_clock_unit\..*HandMadeLoop; use the 'asyncio' factory",
    ):
        VirtualClock().attach(HandMadeLoop(), factory_name="my_factory")  # type: ignore[abstract]


def test_attach_twice_is_refused(loop: asyncio.AbstractEventLoop, clock: VirtualClock) -> None:
    with pytest.raises(
        VirtualClockError,
        match=r"^this VirtualClock is already attached to a loop; detach\(\) it first$",
    ):
        clock.attach(loop)
    with pytest.raises(
        VirtualClockError, match=r"^this loop already has a virtual clock; detach\(\) that one"
    ):
        VirtualClock().attach(loop)


def test_attach_refuses_closed_loops_and_pending_timers() -> None:
    loop = asyncio.new_event_loop()
    loop.call_later(1, lambda: None)
    with pytest.raises(
        VirtualClockError,
        match=r"^this loop already has timers scheduled on the real clock; "
        r"attach the virtual clock right after creating the loop$",
    ):
        VirtualClock().attach(loop)
    loop.close()
    with pytest.raises(
        VirtualClockError, match=r"^cannot attach the virtual clock to a closed loop$"
    ):
        VirtualClock().attach(loop)


def test_detach_restores_the_loop() -> None:
    loop = asyncio.new_event_loop()
    selector = loop._selector  # type: ignore[attr-defined]
    before = (dict(vars(loop)), dict(vars(selector)))
    clock = VirtualClock(start=-1e6)
    clock.attach(loop)
    assert loop.time() == -1e6
    clock.detach()
    assert (dict(vars(loop)), dict(vars(selector))) == before
    assert loop.time() > 0
    clock.detach()  # a second detach is a no-op
    run(loop, asyncio.sleep(0))

    other = VirtualClock()  # the loop can take a clock again
    other.attach(loop)
    run(loop, asyncio.sleep(60))
    assert loop.time() == 60
    loop.close()
    other.detach()  # after close() works too
    assert "time" not in vars(loop)


def test_detach_keeps_what_was_there_before() -> None:
    loop = asyncio.new_event_loop()

    def shifted_time() -> float:
        return 123.0

    loop.time = shifted_time  # type: ignore[method-assign]
    clock = VirtualClock()
    clock.attach(loop)
    assert loop.time() == 0
    clock.detach()
    assert loop.time is shifted_time
    loop.close()


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"), [(-1, "-1"), (-0.5, "-0.5"), (math.nan, "nan"), (math.inf, "inf")]
)
def test_advance_refuses_going_backwards_or_forever(seconds: float, shown: str) -> None:
    clock = VirtualClock(start=7)
    with pytest.raises(
        ValueError,
        match=rf"^advance\(\) needs a finite number of seconds >= 0 \(time can't go backwards\), "
        rf"got {shown}$",
    ):
        clock.advance(seconds)
    assert clock.time() == 7


def test_advance_without_a_loop_moves_time() -> None:
    clock = VirtualClock()
    clock.advance(0)
    clock.advance(1.5)
    assert clock.time() == 1.5


@pytest.mark.parametrize(("value", "shown"), [(-1, "-1"), (-1e-9, "-1e-09"), (math.nan, "nan")])
def test_negative_threshold_is_refused(value: float, shown: str) -> None:
    message = (
        rf"^autojump_threshold must be >= 0 real seconds \(math\.inf to never jump\), got {shown}$"
    )
    with pytest.raises(ValueError, match=message):
        VirtualClock(autojump_threshold=value)
    clock = VirtualClock(autojump_threshold=math.inf)
    with pytest.raises(ValueError, match=message):
        clock.autojump_threshold = value
    assert clock.autojump_threshold == math.inf


def test_start_must_be_finite() -> None:
    with pytest.raises(ValueError, match=r"^start must be a finite number of seconds, got inf$"):
        VirtualClock(start=math.inf)


def test_repr_shows_the_state(loop: asyncio.AbstractEventLoop) -> None:
    clock = VirtualClock(start=2.0, autojump_threshold=0.1)
    assert repr(clock) == "<VirtualClock time=2.0 autojump_threshold=0.1 detached>"
    clock.attach(loop)
    assert repr(clock) == "<VirtualClock time=2.0 autojump_threshold=0.1 attached>"
    clock.detach()
