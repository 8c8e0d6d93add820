"""Configuration: every bad value is a usage error naming key, value and the valid ones."""

from __future__ import annotations

import pytest
from _helpers import ini

BAD_VALUES = [
    ("asyncio_mode", "autoo", "asyncio_mode = 'autoo' is not valid; use 'strict' or 'auto'."),
    (
        "asyncio_default_fixture_loop_scope",
        "galaxy",
        "asyncio_default_fixture_loop_scope = 'galaxy' is not valid; use 'function', 'class',"
        " 'module', 'package', 'session' or 'fixture-scope'.",
    ),
    (
        "asyncio_default_test_loop_scope",
        "fixture-scope",
        "asyncio_default_test_loop_scope = 'fixture-scope' is not valid; use 'function',"
        " 'class', 'module', 'package' or 'session'.",
    ),
    ("asyncio_debug", "maybe", "asyncio_debug = 'maybe' is not valid; use true or false."),
    (
        "asyncio_timeout",
        "-1",
        "asyncio_timeout = '-1' is not valid; use a number of seconds >= 0 (0 turns it off).",
    ),
    (
        "asyncio_blocking_threshold",
        "soon",
        "asyncio_blocking_threshold = 'soon' is not valid; use a number of seconds >= 0"
        " (0 turns it off).",
    ),
    (
        "asyncio_unawaited",
        "loud",
        "asyncio_unawaited = 'loud' is not valid; use 'error', 'warn' or 'ignore'.",
    ),
    (
        "asyncio_task_leaks",
        "never",
        "asyncio_task_leaks = 'never' is not valid; use 'error', 'warn' or 'ignore'.",
    ),
    (
        "asyncio_loop_errors",
        "0",
        "asyncio_loop_errors = '0' is not valid; use 'error', 'warn' or 'ignore'.",
    ),
    ("asyncio_clock", "fake", "asyncio_clock = 'fake' is not valid; use 'real' or 'virtual'."),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
def test_bad_ini_value_is_a_usage_error(
    pytester: pytest.Pytester, key: str, value: str, message: str, header: bool
) -> None:
    ini(pytester, **{key: value})
    pytester.makepyfile("def test_never_runs():\n    pass\n")
    result = pytester.runpytest(*([] if header else ["--no-header"]))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--asyncio-mode=loud", "asyncio_mode = 'loud' is not valid; use 'strict' or 'auto'."),
        (
            "--asyncio-timeout=never",
            "asyncio_timeout = 'never' is not valid; use a number of seconds >= 0 (0 turns it"
            " off).",
        ),
    ],
)
def test_bad_cli_value_is_a_usage_error(pytester: pytest.Pytester, flag: str, message: str) -> None:
    result = pytester.runpytest(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_unknown_loop_factory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_loop_factories="nosuchmodule:make_loop")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: asyncio_loop_factories: can't import 'nosuchmodule:make_loop'*"]
    )
