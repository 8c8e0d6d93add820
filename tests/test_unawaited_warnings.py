"""Missing awaits and Python's own ``RuntimeWarning``: a test that expects the warning gets it,
``filterwarnings = error`` fails a drop once, with awaitest's message, and a dropped AsyncMock
call says the mocked method is probably sync."""

from __future__ import annotations

import pytest


def add_to_ini(pytester: pytest.Pytester, line: str) -> None:
    with open(pytester.path / "tox.ini", "a") as ini:  # written by the mode fixture
        ini.write(f"\n{line}\n")


EXPECTING = """
import asyncio
import gc
import warnings

import pytest


async def job():
    pass


@pytest.mark.asyncio
async def test_pytest_warns():
    coro = job()
    with pytest.raises(RuntimeError):
        raise RuntimeError("the scheduler is closed")  # so nobody awaits coro
    with pytest.warns(RuntimeWarning, match="coroutine 'job' was never awaited"):
        del coro
        gc.collect()


@pytest.mark.asyncio
async def test_recwarn(recwarn):
    job()
    assert [str(w.message) for w in recwarn] == ["coroutine 'job' was never awaited"]
    assert recwarn[0].filename == __file__
    assert recwarn[0].lineno == 24


@pytest.mark.asyncio
async def test_catch_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job()
    assert [w.category for w in caught] == [RuntimeWarning]


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:coroutine 'job' was never awaited:RuntimeWarning")
async def test_filterwarnings_mark():
    job()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
class TestIgnoredForTheClass:
    @pytest.mark.asyncio
    async def test_in_class(self):
        job()
"""


@pytest.mark.parametrize("filters", ["", "filterwarnings = error"])
def test_a_test_expecting_the_runtime_warning_gets_it_and_passes(
    pytester: pytest.Pytester, mode: str, filters: str
) -> None:
    pytester.makepyfile(test_expecting=EXPECTING)
    add_to_ini(pytester, filters)
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)
    assert "was never awaited" not in result.stdout.str()


DROPS = """
import pytest


async def job():
    pass


@pytest.mark.asyncio
async def test_drops_it():
    job()
"""


@pytest.mark.parametrize("filters", ["", "filterwarnings = error"])
def test_a_drop_fails_once_with_our_message_also_under_filterwarnings_error(
    pytester: pytest.Pytester, mode: str, filters: str
) -> None:
    pytester.makepyfile(test_drops=DROPS)
    add_to_ini(pytester, filters)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_drops_it _*",
            "coroutine job() was never awaited; dropped at test_drops.py:10 (in test_drops_it), "
            "usually the line that called it.",
            "Add 'await' before the call, or hand it to asyncio.create_task() and await the "
            "task (asyncio_unawaited = error).",
            "On purpose? Expect it with pytest.warns(RuntimeWarning), or mark the test: "
            '@pytest.mark.awaitest(unawaited="ignore")',
            "*= short test summary info =*",
        ]
    )
    text = result.stdout.str()
    assert "PytestUnraisableExceptionWarning" not in text
    assert "RuntimeWarning: coroutine" not in text  # replaced by the failure


def test_ignore_leaves_pythons_warning_as_it_is_without_awaitest(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        test_drops=DROPS.replace(
            "@pytest.mark.asyncio",
            '@pytest.mark.asyncio\n@pytest.mark.awaitest(unawaited="ignore")',
        )
    )
    result = pytester.runpytest("-W", "default::RuntimeWarning")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*test_drops.py:11: RuntimeWarning: coroutine 'job' was never awaited"]
    )
    # and under filterwarnings = error, pytest's own failure, as with pytest-asyncio
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_drops.py::test_drops_it - pytest.PytestUnraisableExceptionWarning*"]
    )


ASYNC_MOCK = """
from unittest import mock

import pytest


class Connection:
    def __init__(self, transport):
        self.transport = transport

    async def close(self):
        self.transport.close()  # a sync method of a real transport


@pytest.mark.asyncio
async def test_close_closes_the_transport():
    transport = mock.AsyncMock(name="transport")
    await Connection(transport).close()
    transport.close.assert_called_once()


@pytest.mark.asyncio
async def test_with_an_unnamed_mock():
    await Connection(mock.AsyncMock()).close()
"""


def test_a_dropped_async_mock_call_says_the_method_is_probably_sync(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_mock=ASYNC_MOCK)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_close_closes_the_transport _*",
            "a call of AsyncMock 'transport.close' returned a coroutine that was never awaited; "
            "dropped at test_mock.py:11 (in close), usually the line that called it.",
            "The code calls it without await, so the method it stands for is probably sync: "
            "make it a Mock or MagicMock, or create the mock with spec=TheRealClass, which "
            "makes only the async methods AsyncMocks (asyncio_unawaited = error).",
            "On purpose? Expect it with pytest.warns(RuntimeWarning), or mark the test: "
            '@pytest.mark.awaitest(unawaited="ignore")',
            "*_ test_with_an_unnamed_mock _*",
            "a call of AsyncMock 'mock.close' returned a coroutine that was never awaited; *",
        ]
    )


HELD = """
import asyncio

import pytest


async def fetch(i):
    return i


@pytest.mark.asyncio
async def test_list():
    coros = [fetch(i) for i in range(3)]
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_several():
    first = fetch(1)
    second = fetch(2)
    await asyncio.sleep(0)
"""


def test_coroutines_held_until_the_test_returns_point_at_the_tests_lines(
    pytester: pytest.Pytester, mode: str
) -> None:
    """Freed when the test's coroutine ends (a list, variables), they are dropped by the loop's
    callback: the message names the test's lines that call them, not pluggy's."""
    pytester.makepyfile(test_held=HELD)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_list _*",
            "coroutine fetch() was never awaited (3 times); called at test_held.py:12 "
            "(in test_list), dropped when test_list() returned.",
            "*_ test_several _*",
            "coroutine fetch() was never awaited (2 times); called at test_held.py:18, 19 "
            "(in test_several), dropped when test_several() returned.",
        ]
    )
    result.stdout.no_fnmatch_line("*pluggy/_*")
