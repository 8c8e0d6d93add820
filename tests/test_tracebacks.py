"""A user's failure shows the user's traceback: no frames of ours, no chained exceptions of ours.

pytester names each run's directory after the test, so no test here has our package's name in
its own: the paths of the user's frames must not match the pattern that finds ours.
"""

from __future__ import annotations

import pytest

FAILING_SETUP = """
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def broken():
    raise ValueError("no database")
    {after_the_error}

@pytest.mark.asyncio
async def test_uses(broken):
    pass
"""


@pytest.mark.parametrize("after_the_error", ["pass", "yield"], ids=["coroutine", "generator"])
def test_failing_fixture_setup_shows_only_the_users_frame(
    pytester: pytest.Pytester, mode: str, after_the_error: str
) -> None:
    pytester.makepyfile(test_broken=FAILING_SETUP.format(after_the_error=after_the_error))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_uses _*",
            "",
            "    @pytest_asyncio.fixture",
            "    async def broken():",
            '>       raise ValueError("no database")',
            "E       ValueError: no database",
            "",
            "test_broken.py:6: ValueError",
            "*= short test summary info =*",
        ],
        consecutive=True,
    )
