"""Other runners' async tests stay theirs; hypothesis examples run on the test's loop."""

from __future__ import annotations

import pytest


def test_isolated_asyncio_testcase_is_left_to_unittest(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import unittest

        class TestCase(unittest.IsolatedAsyncioTestCase):
            async def asyncSetUp(self):
                self.loop = asyncio.get_running_loop()

            async def test_runs_on_unittest_loop(self):
                assert asyncio.get_running_loop() is self.loop
                self.assertTrue(True)

            async def test_failure_is_reported(self):
                self.assertEqual(1, 2)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: 1 != 2"])


def test_doctests_are_left_alone(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        mod='''
        def double(x):
            """
            >>> double(2)
            4
            """
            return 2 * x
        '''
    )
    pytester.runpytest("--doctest-modules").assert_outcomes(passed=1)


def test_hypothesis_runs_every_example_on_the_test_loop(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        from hypothesis import HealthCheck, given, settings, strategies as st

        @pytest_asyncio.fixture
        async def loop_of_fixture():
            return asyncio.get_running_loop()

        seen = set()

        @pytest.mark.asyncio
        @settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(st.integers())
        async def test_examples(loop_of_fixture, n):
            await asyncio.sleep(0)
            seen.add(asyncio.get_running_loop())
            assert asyncio.get_running_loop() is loop_of_fixture

        def test_one_loop_for_all_examples():
            assert len(seen) == 1

        @pytest.mark.asyncio
        @given(st.integers(min_value=5))
        async def test_failing_example_is_reported(n):
            assert n < 5
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    # "Falsifying example:" before hypothesis 6.16x, "Failing test case:" since
    result.stdout.fnmatch_lines(["E * test_failing_example_is_reported(", "E *n=5,*"])


def test_hypothesis_in_a_class(pytester: pytest.Pytester, mode: str) -> None:
    pytest.importorskip("hypothesis")
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from hypothesis import given, strategies as st

        class TestProps:
            @pytest.mark.asyncio
            @given(st.text())
            async def test_roundtrip(self, s):
                await asyncio.sleep(0)
                assert s.encode().decode() == s
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
