"""looptime (installed in the test extras) speeds up async tests under awaitest as it does under
pytest-asyncio: ``@pytest.mark.looptime(...)``, ``--looptime``, ``--no-looptime`` and the
``looptime`` fixture.

A test whose time is not compressed would sleep for 100 real seconds and then fail its
assertions on the loop's time; ``asyncio_timeout`` stops it sooner.
"""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
asyncio_timeout = 30
filterwarnings = error
"""

TESTS = """
import asyncio

import pytest


@pytest.fixture
async def resource():
    yield 42


async def test_async_fixture_only(resource):
    assert resource == 42


@pytest.mark.looptime
async def test_marked(looptime, resource):
    loop = asyncio.get_running_loop()
    assert loop.looptime_on and looptime == 0
    await asyncio.sleep(100)
    assert looptime == 100 and loop.time() == 100


@pytest.mark.looptime(start=50)
async def test_marked_with_options(looptime):
    await asyncio.sleep(100)
    assert looptime == 150


async def test_unmarked(request):
    loop = asyncio.get_running_loop()
    print("unmarked:", getattr(loop, "looptime_on", False), request.fixturenames)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_time=TESTS)
    return pytester


def test_marked_tests_are_compressed(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    # an unmarked test keeps the real time, and gets no fixture it didn't ask for
    result.stdout.fnmatch_lines(["*unmarked: False [[]'request'[]]"])


def test_looptime_flag_compresses_every_async_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-s", "-p", "no:cacheprovider", "--looptime")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*unmarked: True [[]'event_loop_policy', 'event_loop', 'request'[]]"]
    )


def test_no_looptime_flag_keeps_the_real_time(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.mark.looptime
        async def test_marked():
            loop = asyncio.get_running_loop()
            assert not getattr(loop, "looptime_on", False)
            await asyncio.sleep(0.01)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--no-looptime").assert_outcomes(passed=1)


def test_a_wider_loop_and_its_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.fixture(scope="module")
        async def module_loop():
            return asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.looptime
        async def test_1(module_loop):
            assert asyncio.get_running_loop() is module_loop
            before = module_loop.time()
            await asyncio.sleep(100)
            assert module_loop.time() - before == pytest.approx(100, abs=1e-6)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_2(module_loop):
            assert asyncio.get_running_loop() is module_loop
            assert not module_loop.looptime_on  # patched by test_1, on only while it ran
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_user_event_loop_fixture_is_compressed_too(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        @pytest.fixture
        def event_loop():
            loop = asyncio.new_event_loop()
            yield loop
            loop.close()

        @pytest.mark.looptime
        async def test_marked(event_loop, looptime):
            assert asyncio.get_running_loop() is event_loop
            await asyncio.sleep(100)
            assert looptime == 100
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
