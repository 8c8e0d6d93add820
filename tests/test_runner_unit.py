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
    NoYieldError,
    ReentrantRunError,
    Runner,
    SecondYieldError,
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


def test_check_not_nested_refuses_inside_a_running_loop(runner: Runner) -> None:
    Runner.check_not_nested()

    async def nested() -> None:
        Runner.check_not_nested()

    with pytest.raises(ReentrantRunError):
        runner.run(nested())


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
