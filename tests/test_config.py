"""Configuration: every bad value is a usage error naming key, value and the valid ones."""

from __future__ import annotations

import pytest
from _helpers import ini

from awaitest import _config
from awaitest._loops.factories import NO_EAGER_TASKS

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
        "asyncio_pending_on_failure",
        "sometimes",
        "'sometimes' is not a valid asyncio_pending_on_failure. Valid values: true, false.",
    ),
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


@pytest.mark.serial_only(
    "asserts the header's lines in order: concurrency on adds the awaitest concurrency line"
)
def test_the_header_shows_what_awaitest_has_on(pytester: pytest.Pytester) -> None:
    """pytest-asyncio's line first and unchanged (tools parse it), then awaitest's two."""
    ini(pytester, asyncio_timeout="2.5", asyncio_task_leaks="error")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:timeout")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "asyncio: mode=strict, debug=False, asyncio_default_fixture_loop_scope=None, "
            "asyncio_default_test_loop_scope=function",
            "awaitest loops: asyncio_loop_factories=asyncio, asyncio_clock=real, "
            "asyncio_eager_tasks=false",
            "awaitest checks: asyncio_timeout=2.5, asyncio_blocking_threshold=0 (off), "
            "asyncio_unawaited=error, asyncio_task_leaks=error, asyncio_loop_errors=error, "
            "asyncio_pending_on_failure=true",
            "rootdir: *",
        ],
        consecutive=True,
    )


_LOOPS = "awaitest loops: asyncio_loop_factories={}, asyncio_clock={}, asyncio_eager_tasks={}"
_CHECKS = (
    "awaitest checks: asyncio_timeout={}, asyncio_blocking_threshold={}, asyncio_unawaited={}, "
    "asyncio_task_leaks={}, asyncio_loop_errors={}, asyncio_pending_on_failure={}"
)
_FIRST = (
    "asyncio: mode={}, debug={}, asyncio_default_fixture_loop_scope={}, "
    "asyncio_default_test_loop_scope={}"
)
#: Per ini key: its value in the ini, the flag that says otherwise, the header line that shows
#: the flag won.
FLAG_OVER_INI = {
    "asyncio_mode": ("strict", ["--asyncio-mode=auto"], _FIRST.format("auto", "False", "*", "*")),
    "asyncio_default_fixture_loop_scope": (
        "module",
        ["--asyncio-default-fixture-loop-scope=session"],
        _FIRST.format("strict", "False", "session", "function"),
    ),
    "asyncio_default_test_loop_scope": (
        "module",
        ["--asyncio-default-test-loop-scope", "class"],
        _FIRST.format("strict", "False", "None", "class"),
    ),
    "asyncio_debug": ("false", ["--asyncio-debug"], _FIRST.format("strict", "True", "*", "*")),
    "asyncio_loop_factories": (
        "asyncio",
        ["--asyncio-loop-factories=uvloop asyncio"],
        _LOOPS.format("uvloop asyncio", "real", "false"),
    ),
    "event_loop_policy": (
        "asyncio.DefaultEventLoopPolicy",
        ["--asyncio-event-loop-policy=uvloop.EventLoopPolicy"],
        _LOOPS.format("asyncio", "real", "false") + ", event_loop_policy=uvloop.EventLoopPolicy",
    ),
    "asyncio_eager_tasks": (
        "false",
        ["--asyncio-eager-tasks"],
        _LOOPS.format("asyncio", "real", "true"),
    ),
    "asyncio_timeout": (
        "1",
        ["--asyncio-timeout=30"],
        _CHECKS.format("30", "0 (off)", "error", "warn", "error", "true"),
    ),
    "asyncio_unawaited": (
        "error",
        ["--asyncio-unawaited=warn"],
        _CHECKS.format("0 (off)", "0 (off)", "warn", "warn", "error", "true"),
    ),
    "asyncio_task_leaks": (
        "warn",
        ["--asyncio-task-leaks=ignore"],
        _CHECKS.format("0 (off)", "0 (off)", "error", "ignore", "error", "true"),
    ),
    "asyncio_blocking_threshold": (
        "2",
        ["--asyncio-blocking-threshold=0.25"],
        _CHECKS.format("0 (off)", "0.25", "error", "warn", "error", "true"),
    ),
    "asyncio_loop_errors": (
        "error",
        ["--asyncio-loop-errors=warn"],
        _CHECKS.format("0 (off)", "0 (off)", "error", "warn", "warn", "true"),
    ),
    "asyncio_clock": (
        "real",
        ["--asyncio-clock=virtual"],
        _LOOPS.format("asyncio", "virtual", "false"),
    ),
    "asyncio_pending_on_failure": (
        "true",
        ["--asyncio-pending-on-failure=false"],
        _CHECKS.format("0 (off)", "0 (off)", "error", "warn", "error", "false"),
    ),
    "asyncio_concurrency": (
        "0",
        ["--asyncio-concurrency=7"],
        "awaitest concurrency: asyncio_concurrency=7, asyncio_concurrent_tests=marked",
    ),
    "asyncio_concurrent_tests": (
        "marked",
        ["--asyncio-concurrent-tests=all", "--asyncio-concurrency=3"],
        "awaitest concurrency: asyncio_concurrency=3, asyncio_concurrent_tests=all",
    ),
}


def test_every_ini_key_has_a_flag() -> None:
    assert set(FLAG_OVER_INI) == set(_config._INI)
    for key, (_, args, _) in FLAG_OVER_INI.items():
        assert args[0].split("=")[0] == _config._INI[key][2]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(
            key,
            marks=pytest.mark.serial_only(
                "asserts the header line of its own asyncio_concurrency settings, which the "
                "suite's -o replaces"
            ),
        )
        if key.startswith("asyncio_concurren")
        else key
        for key in FLAG_OVER_INI
    ],
)
def test_a_flag_wins_over_its_ini_key(pytester: pytest.Pytester, key: str) -> None:
    in_ini, args, shown = FLAG_OVER_INI[key]
    ini(pytester, **{key: in_ini})
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(*args)
    if key == "asyncio_eager_tasks" and NO_EAGER_TASKS:
        assert result.ret == pytest.ExitCode.USAGE_ERROR  # the flag's true, not the ini's false
        result.stderr.fnmatch_lines(
            ["ERROR: asyncio_eager_tasks = true: running tasks eagerly needs *"]
        )
        return
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([shown])


def test_a_flag_changes_what_a_test_meets(pytester: pytest.Pytester) -> None:
    """Not only the header: the ini's warn is the flag's error for a leaked task."""
    ini(pytester, asyncio_task_leaks="warn")
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_leaks():
            asyncio.create_task(asyncio.sleep(10))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    result = pytester.runpytest("--asyncio-task-leaks=error")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_leaks left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = error):"
        ]
    )
