"""A bad marker fails only the test it is on, naming the test, the bad value and the fix."""

from __future__ import annotations

import pytest
from _helpers import ini

BAD_MARKERS = [
    (
        '"session"',
        "mark.asyncio accepts only keyword arguments, but got positional argument 'session';"
        " use @pytest.mark.asyncio(loop_scope=..., loop_factories=[...], timeout=...)",
    ),
    (
        'cope="session"',
        "mark.asyncio accepts only keyword arguments 'loop_scope', 'loop_factories', 'timeout'"
        " or 'eager_tasks', but got 'cope'; use @pytest.mark.asyncio(loop_scope=...,"
        " loop_factories=[...], timeout=...)",
    ),
    (
        'loop_scope="galaxy"',
        "mark.asyncio got an unexpected loop scope value 'galaxy'. Valid scopes are: function,"
        " class, module, package, session.",
    ),
    (
        'scope="module", loop_scope="module"',
        # line one in pytest-asyncio's words
        'An asyncio pytest marker defines both "scope" and "loop_scope", but it should only use'
        ' "loop_scope".\n"scope" is its old name: remove it.',
    ),
    (
        "loop_factories=[]",
        "mark.asyncio 'loop_factories' must be a non-empty sequence of factory names, e.g."
        " loop_factories=['asyncio'], but got []",
    ),
    (
        "timeout=-2",
        "mark.asyncio 'timeout' must be a number of seconds >= 0 (0 turns the limit off), but"
        " got -2",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_MARKERS, ids=[b[0] for b in BAD_MARKERS])
def test_bad_marker_fails_that_test_only(
    pytester: pytest.Pytester, mode: str, args: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.asyncio({args})
        async def test_broken():
            pass

        @pytest.mark.asyncio
        async def test_fine():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    first, *more = message.split("\n")
    result.stdout.fnmatch_lines([f"test_bad.py::test_broken: {first}", *more])


def test_scope_keyword_is_a_deprecated_alias(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        loops = []

        @pytest.mark.asyncio(scope="module")
        async def test_1():
            loops.append(asyncio.get_running_loop())

        @pytest.mark.asyncio(scope="module")
        async def test_2():
            assert asyncio.get_running_loop() is loops[0]
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-W", "default")
    result.assert_outcomes(passed=2, warnings=2)  # as pytest-asyncio warns, with its class
    result.stdout.fnmatch_lines(
        [
            "*PytestDeprecationWarning: test_scope_keyword_is_a_deprecated_alias.py::test_1:"
            " mark.asyncio(scope=...) is deprecated; write loop_scope= instead",
        ]
    )
