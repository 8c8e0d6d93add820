"""Configuration: every bad value is a usage error naming key, value and the valid ones."""

from __future__ import annotations

import pytest
from _helpers import ini

#: Line one of each message is worded as pytest-asyncio words it (its suite matches on it).
BAD_VALUES = [
    ("asyncio_mode", "autoo", "'autoo' is not a valid asyncio_mode. Valid modes: auto, strict."),
    (
        "asyncio_default_fixture_loop_scope",
        "galaxy",
        "'galaxy' is not a valid asyncio_default_fixture_loop_scope. Valid scopes are: function,"
        " class, module, package, session.\n"
        "fixture-scope is valid too: each async fixture on the loop of its own scope.",
    ),
    (
        "asyncio_default_test_loop_scope",
        "fixture-scope",
        "'fixture-scope' is not a valid asyncio_default_test_loop_scope. Valid scopes are:"
        " function, class, module, package, session.",
    ),
    ("asyncio_debug", "maybe", "'maybe' is not a valid asyncio_debug. Valid values: true, false."),
    (
        "asyncio_timeout",
        "-1",
        "'-1' is not a valid asyncio_timeout. Valid values: a number of seconds >= 0 (0 turns it"
        " off).",
    ),
    (
        "asyncio_blocking_threshold",
        "soon",
        "'soon' is not a valid asyncio_blocking_threshold. Valid values: a number of seconds >= 0"
        " (0 turns it off).",
    ),
    (
        "asyncio_unawaited",
        "loud",
        "'loud' is not a valid asyncio_unawaited. Valid values: error, warn, ignore.",
    ),
    (
        "asyncio_task_leaks",
        "never",
        "'never' is not a valid asyncio_task_leaks. Valid values: error, warn, ignore.",
    ),
    (
        "asyncio_loop_errors",
        "0",
        "'0' is not a valid asyncio_loop_errors. Valid values: error, warn, ignore.",
    ),
    ("asyncio_clock", "fake", "'fake' is not a valid asyncio_clock. Valid values: real, virtual."),
    (
        "asyncio_loop_factories",
        "asyncio asyncio",
        "'asyncio asyncio' is not a valid asyncio_loop_factories. Valid values: one or more loop"
        " factory names, each once, e.g. 'asyncio uvloop'.",
    ),
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
    first, *more = message.split("\n")
    result.stderr.fnmatch_lines([f"ERROR: {first}", *more])
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--asyncio-mode=loud", "'loud' is not a valid asyncio_mode. Valid modes: auto, strict."),
        (
            "--asyncio-timeout=never",
            "'never' is not a valid asyncio_timeout. Valid values: a number of seconds >= 0 (0"
            " turns it off).",
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
