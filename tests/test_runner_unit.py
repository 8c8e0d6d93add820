"""The runner on its own: a loop, coroutines and async generator fixtures, no pytest run."""

from __future__ import annotations

import asyncio
import contextvars
import os
import traceback
from collections.abc import AsyncGenerator, Iterator

import pytest

from awaitest._loops.runner import (
    GeneratorHost,
    NotSteppingError,
    NoYieldError,
    Runner,
    SecondYieldError,
    running_loop,
)

ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class Broken(Exception):
    pass


def ctrl_c() -> None:
    """A loop callback that raises as Ctrl-C does, between two steps of a task."""
    raise KeyboardInterrupt


@pytest.fixture
def runner() -> Iterator[Runner]:
    runner = Runner.open(asyncio.new_event_loop)
    try:
        yield runner
    finally:
        runner.close()


def functions_in(exc: BaseException) -> list[str]:
    """The functions of a traceback, outermost first; asyncio's as 'asyncio'."""
    return [
        "asyncio" if entry.filename.startswith(ASYNCIO_DIR) else entry.name
        for entry in traceback.extract_tb(exc.__traceback__)
    ]


# -- Runner ----------------------------------------------------------------------------------


def test_run_returns_the_coroutines_value_on_the_runners_loop(runner: Runner) -> None:
    async def which_loop() -> asyncio.AbstractEventLoop:
        await asyncio.sleep(0)
        return asyncio.get_running_loop()

    assert runner.run(which_loop()) is runner.loop


def test_a_runner_makes_its_loop_current_and_puts_back_the_previous_one() -> None:
    before = asyncio.new_event_loop()
    asyncio.set_event_loop(before)
    try:
        runner = Runner.open(asyncio.new_event_loop)
        assert asyncio.get_event_loop() is runner.loop
        runner.close()
        assert runner.loop.is_closed()
        assert asyncio.get_event_loop() is before
    finally:
        asyncio.set_event_loop(None)
        before.close()


def test_close_twice_is_once_and_a_borrowed_loop_is_left_open() -> None:
    loop = asyncio.new_event_loop()
    try:
        runner = Runner(loop, owned=False)
        runner.close()
        runner.close()
        assert runner.closed
        assert not loop.is_closed()
    finally:
        loop.close()


def test_run_raises_the_coroutines_error_from_its_own_frame(runner: Runner) -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise Broken("no database")

    with pytest.raises(Broken, match=r"^no database$") as caught:
        runner.run(fails())
    # From our frame straight to the coroutine's: none of the loop's frames in between.
    assert functions_in(caught.value)[-2:] == ["run", "fails"]
    assert "asyncio" not in functions_in(caught.value)
    assert caught.value.__context__ is None


def test_run_keeps_the_users_asyncio_frames(runner: Runner) -> None:
    async def fails() -> None:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0)

    with pytest.raises(TimeoutError) as caught:
        runner.run(fails())
    functions = functions_in(caught.value)
    assert functions[functions.index("run") + 1] == "fails"
    assert functions[-1] == "asyncio"  # wait_for raised it: that frame is the user's call


def test_run_in_a_context_sets_variables_there_only(runner: Runner) -> None:
    async def sets() -> str:
        VAR.set("set in the fixture")
        return VAR.get()

    context = contextvars.copy_context()
    assert runner.run(sets(), context=context) == "set in the fixture"
    assert context[VAR] == "set in the fixture"
    assert VAR.get() == "unset"


def test_ctrl_c_while_suspended_lets_the_coroutine_unwind(runner: Runner) -> None:
    unwound = []

    async def waits_forever() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(ctrl_c)  # runs once this task is suspended
        try:
            await loop.create_future()
        finally:
            unwound.append("finally ran")

    with pytest.raises(KeyboardInterrupt):
        runner.run(waits_forever())
    assert unwound == ["finally ran"]


def test_running_loop_is_the_loop_running_the_caller(runner: Runner) -> None:
    assert running_loop() is None

    async def which() -> asyncio.AbstractEventLoop | None:
        return running_loop()

    assert runner.run(which()) is runner.loop


# -- GeneratorHost ---------------------------------------------------------------------------


def test_generator_fixture_sets_up_and_tears_down_in_one_task(runner: Runner) -> None:
    tasks = []

    async def resource() -> AsyncGenerator[str, None]:
        tasks.append(asyncio.current_task())
        yield "connection"
        tasks.append(asyncio.current_task())

    host = runner.start_generator(resource())
    assert host.value == "connection"
    assert list(runner.hosts.values()) == [host._agen]  # parked, on purpose
    host.teardown()
    assert len(tasks) == 2
    assert tasks[0] is tasks[1]
    assert runner.hosts == {}


def test_a_task_group_may_span_the_yield(runner: Runner) -> None:
    async def group() -> AsyncGenerator[None, None]:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.sleep(0))
            yield

    host = runner.start_generator(group())
    host.teardown()


def test_setup_error_is_the_users_alone(runner: Runner) -> None:
    async def broken() -> AsyncGenerator[None, None]:
        raise Broken("no database")
        yield

    with pytest.raises(Broken, match=r"^no database$") as caught:
        runner.start_generator(broken())
    # Not raised while handling the cancellation of the host's own future (issue 13).
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert functions_in(caught.value)[-4:] == ["start_generator", "setup", "_live", "broken"]
    assert runner.hosts == {}


def test_teardown_error_comes_from_the_users_frame(runner: Runner) -> None:
    async def fails_at_teardown() -> AsyncGenerator[None, None]:
        yield
        raise Broken("teardown failed")

    host = runner.start_generator(fails_at_teardown())
    with pytest.raises(Broken, match=r"^teardown failed$") as caught:
        host.teardown()
    assert functions_in(caught.value)[-3:] == ["teardown", "_live", "fails_at_teardown"]
    assert runner.hosts == {}


def test_a_generator_that_never_yields(runner: Runner) -> None:
    async def empty() -> AsyncGenerator[None, None]:
        if False:
            yield

    with pytest.raises(NoYieldError):
        runner.start_generator(empty())
    assert runner.hosts == {}


def test_a_generator_that_yields_twice_is_closed(runner: Runner) -> None:
    closed = []

    async def twice() -> AsyncGenerator[int, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    host = runner.start_generator(twice())
    with pytest.raises(SecondYieldError):
        host.teardown()
    assert closed == [True]


def test_setup_interrupted_by_ctrl_c_cancels_the_fixture(runner: Runner) -> None:
    unwound = []

    async def slow() -> AsyncGenerator[None, None]:
        loop = asyncio.get_running_loop()
        loop.call_soon(ctrl_c)  # runs once this task is suspended
        try:
            await loop.create_future()
            yield
        finally:
            unwound.append("finally ran")

    with pytest.raises(KeyboardInterrupt):
        runner.start_generator(slow())
    assert unwound == ["finally ran"]
    assert runner.hosts == {}


def test_contextvars_set_in_setup_are_in_the_given_context(runner: Runner) -> None:
    async def sets() -> AsyncGenerator[str, None]:
        VAR.set("from setup")
        yield VAR.get()

    context = contextvars.copy_context()
    host: GeneratorHost[str] = runner.start_generator(sets(), context=context)
    assert host.value == "from setup"
    assert context[VAR] == "from setup"
    host.teardown()


# -- calls between steps ---------------------------------------------------------------------


def test_a_call_between_steps_runs_with_the_loop_stopped_and_may_run_coroutines_on_it(
    runner: Runner,
) -> None:
    seen: list[object] = []

    async def in_a_fixture() -> str:
        await asyncio.sleep(0)
        return "set up"

    def call() -> str:
        seen.append(running_loop())  # stopped: nothing runs
        return runner.run(in_a_fixture())  # as pytest's setup of an async fixture does

    async def ticks() -> None:
        while True:
            seen.append("tick")
            await asyncio.sleep(0)

    async def test() -> str:
        ticker = asyncio.create_task(ticks())
        await asyncio.sleep(0)
        value = await runner.call_between_steps(call)
        ticker.cancel()
        return value

    assert runner.run(test()) == "set up"
    assert seen[:2] == ["tick", None]  # the other task waits while the call runs
    assert "tick" in seen[2:]  # and runs again in the steps after it
    assert not runner.between


def test_an_error_of_the_call_is_raised_in_the_coroutine_from_the_calls_frame(
    runner: Runner,
) -> None:
    def broken_setup() -> None:
        raise Broken("no database")

    async def test() -> None:
        await runner.call_between_steps(broken_setup)

    with pytest.raises(Broken, match=r"^no database$") as caught:
        runner.run(test())
    assert caught.value.__context__ is None
    functions = functions_in(caught.value)
    assert "asyncio" not in functions[functions.index("test") :]
    assert functions[-1] == "broken_setup"


def test_a_call_may_ask_for_another_one_from_a_coroutine_it_runs(runner: Runner) -> None:
    order: list[str] = []

    def inner() -> str:
        order.append("inner call")
        return "inner"

    async def fixture() -> AsyncGenerator[str, None]:
        yield await runner.call_between_steps(inner)  # a generator fixture's setup asks too

    def outer() -> str:
        host = runner.start_generator(fixture())
        order.append("outer call")
        host.teardown()
        return f"outer({host.value})"

    async def test() -> str:
        return await runner.call_between_steps(outer)

    assert runner.run(test()) == "outer(inner)"
    assert order == ["inner call", "outer call"]


def test_calls_asked_for_in_the_same_round_are_made_in_order(runner: Runner) -> None:
    async def test() -> list[str]:
        return list(
            await asyncio.gather(
                runner.call_between_steps(lambda: "first"),
                runner.call_between_steps(lambda: "second"),
            )
        )

    assert runner.run(test()) == ["first", "second"]


def test_a_call_is_never_made_inside_another_it_was_asked_beside(runner: Runner) -> None:
    """Asked for in the same step, the second is made after the first ends, even though the
    first runs steps of its own (in which the second would be free to run)."""
    depth: list[int] = [0]
    order: list[tuple[str, int]] = []

    async def slow_setup() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    def setting_up(name: str) -> str:
        depth[0] += 1
        order.append((name, depth[0]))
        runner.run(slow_setup())
        depth[0] -= 1
        return name

    async def test() -> list[str]:
        return list(
            await asyncio.gather(
                runner.call_between_steps(lambda: setting_up("a")),
                runner.call_between_steps(lambda: setting_up("b")),
            )
        )

    assert runner.run(test()) == ["a", "b"]
    assert order == [("a", 1), ("b", 1)]


def test_a_call_asked_for_as_the_step_ends_is_still_made(runner: Runner) -> None:
    made: list[str] = []

    async def asks() -> None:
        await runner.call_between_steps(lambda: made.append("made"))

    children: list[asyncio.Task[None]] = []

    async def test() -> None:
        # The child's first step and the end of this task's step share the next round.
        children.append(asyncio.create_task(asks()))

    runner.run(test())
    assert made == ["made"]
    assert not runner.between
    runner.loop.run_until_complete(children[0])  # it gets the outcome in a later step


def test_no_call_between_steps_outside_a_step(runner: Runner) -> None:
    async def asks() -> None:
        await runner.call_between_steps(lambda: None)

    async def at_teardown() -> AsyncGenerator[None, None]:
        yield
        await asks()

    with pytest.raises(NotSteppingError):
        runner.loop.run_until_complete(asks())  # someone else runs the loop
    host = runner.start_generator(at_teardown())
    with pytest.raises(NotSteppingError):
        host.teardown()  # teardown sets nothing up


def test_ctrl_c_in_a_call_unwinds_the_coroutine_that_asked(runner: Runner) -> None:
    unwound: list[str] = []

    def interrupted() -> None:
        raise KeyboardInterrupt

    async def test() -> None:
        try:
            await runner.call_between_steps(interrupted)
        finally:
            unwound.append("finally ran")

    with pytest.raises(KeyboardInterrupt):
        runner.run(test())
    assert unwound == ["finally ran"]
    assert not runner.between


def test_a_loop_stopped_by_someone_else_still_fails_the_step(runner: Runner) -> None:
    async def stops() -> None:
        asyncio.get_running_loop().stop()
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed\.$"):
        runner.run(stops())
