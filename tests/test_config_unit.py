"""``_config.read_settings`` on its own, through a stand-in for the two ``Config`` calls it makes.

The pytester tests in test_config.py cover one bad value per key end to end; these cover the
reading rules: defaults, the command line over the ini, whitespace, each value type's forms.
"""

from __future__ import annotations

from typing import cast

import pytest

from awaitest._config import _INI, Settings, awaitest_header_lines, header_line, read_settings
from awaitest._loops.factories import NO_EAGER_TASKS

#: What pytest's getini returns for a key nobody set: the default it was registered with.
DEFAULTS = {key: default for key, (_, default, _) in _INI.items()}


class StubConfig:
    """``getini`` and ``getoption``, the way pytest answers them for string ini keys."""

    def __init__(self, ini: dict[str, str], options: dict[str, object]) -> None:
        self._ini = {**DEFAULTS, **ini}
        self._options = options

    def getini(self, name: str) -> str:
        return self._ini[name]

    def getoption(self, name: str, default: object = None) -> object:
        return self._options.get(name, default)


def settings(options: dict[str, object] | None = None, /, **ini: str) -> Settings:
    return read_settings(cast(pytest.Config, StubConfig(ini, options or {})))


def test_nothing_set_is_the_default_settings() -> None:
    """The registered ini defaults and the defaults of ``Settings`` agree."""
    assert settings() == Settings()


def test_every_key_is_read_into_its_field() -> None:
    assert settings(
        asyncio_mode="auto",
        asyncio_default_fixture_loop_scope="module",
        asyncio_default_test_loop_scope="session",
        asyncio_debug="yes",
        asyncio_loop_factories="asyncio, uvloop",
        event_loop_policy="uvloop.EventLoopPolicy",
        asyncio_timeout="2.5",
        asyncio_unawaited="warn",
        asyncio_task_leaks="error",
        asyncio_blocking_threshold="0.1",
        asyncio_loop_errors="ignore",
        asyncio_clock="virtual",
        asyncio_pending_on_failure="off",
    ) == Settings(
        mode="auto",
        debug=True,
        default_fixture_loop_scope="module",
        default_test_loop_scope="session",
        loop_factories=("asyncio", "uvloop"),
        event_loop_policy="uvloop.EventLoopPolicy",
        timeout=2.5,
        unawaited="warn",
        task_leaks="error",
        blocking_threshold=0.1,
        loop_errors="ignore",
        clock="virtual",
        pending_on_failure=False,
    )


def test_the_command_line_wins_over_the_ini() -> None:
    options: dict[str, object] = {
        "asyncio_mode": "auto",
        "asyncio_timeout": "3",
        "asyncio_blocking_threshold": "0.5",
        "asyncio_debug": True,  # a store_true flag
    }
    found = settings(options, asyncio_mode="strict", asyncio_timeout="1")
    assert (found.mode, found.timeout, found.blocking_threshold, found.debug) == (
        "auto",
        3.0,
        0.5,
        True,
    )


#: Per key: an ini value, another value given with its flag, and the setting that shows which won.
OVERRIDES: dict[str, tuple[str, object, str, object]] = {
    "asyncio_mode": ("strict", "auto", "mode", "auto"),
    "asyncio_default_fixture_loop_scope": (
        "module",
        "session",
        "default_fixture_loop_scope",
        "session",
    ),
    "asyncio_default_test_loop_scope": ("module", "class", "default_test_loop_scope", "class"),
    "asyncio_debug": ("false", True, "debug", True),
    "asyncio_loop_factories": ("asyncio", "uvloop", "loop_factories", ("uvloop",)),
    "event_loop_policy": ("a.Policy", "b.Policy", "event_loop_policy", "b.Policy"),
    "asyncio_eager_tasks": ("false", True, "eager_tasks", True),  # a switch, like --asyncio-debug
    "asyncio_timeout": ("1", "3", "timeout", 3.0),
    "asyncio_unawaited": ("error", "ignore", "unawaited", "ignore"),
    "asyncio_task_leaks": ("warn", "error", "task_leaks", "error"),
    "asyncio_blocking_threshold": ("0", "0.5", "blocking_threshold", 0.5),
    "asyncio_loop_errors": ("error", "warn", "loop_errors", "warn"),
    "asyncio_clock": ("real", "virtual", "clock", "virtual"),
    "asyncio_pending_on_failure": ("true", "false", "pending_on_failure", False),
    # the flag's 0 turns concurrency off for one run
    "asyncio_concurrency": ("8", "0", "concurrency", 0),
    "asyncio_concurrent_tests": ("marked", "all", "concurrent_tests", "all"),
}


def test_every_key_has_a_flag_here() -> None:
    assert set(OVERRIDES) == set(_INI)


@pytest.mark.parametrize("key", OVERRIDES)
def test_each_keys_flag_wins_over_its_ini_value(key: str) -> None:
    ini_value, flag_value, field, expected = OVERRIDES[key]
    if key == "asyncio_eager_tasks" and NO_EAGER_TASKS:
        pytest.skip("asyncio_eager_tasks = true is a usage error before Python 3.12")
    assert getattr(settings(None, **{key: ini_value}), field) != expected
    assert getattr(settings({key: flag_value}, **{key: ini_value}), field) == expected


def test_values_are_stripped() -> None:
    assert settings(asyncio_mode="  auto \n").mode == "auto"


@pytest.mark.parametrize("value", ["", "fixture-scope"])
def test_fixture_scope_and_empty_mean_each_fixture_on_its_own_scope(value: str) -> None:
    assert settings(asyncio_default_fixture_loop_scope=value).default_fixture_loop_scope is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False), ("", False)],
)
def test_booleans(value: str, expected: bool) -> None:
    assert settings(asyncio_debug=value).debug is expected


@pytest.mark.parametrize(("value", "expected"), [("", 0.0), ("0", 0.0), ("1e-3", 0.001)])
def test_seconds(value: str, expected: float) -> None:
    assert settings(asyncio_timeout=value).timeout == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("uvloop", ("uvloop",)),
        ("asyncio,uvloop", ("asyncio", "uvloop")),
        ("a  b\tc", ("a", "b", "c")),
    ],
)
def test_loop_factory_names_split_on_commas_and_spaces(value: str, expected: tuple[str]) -> None:
    assert settings(asyncio_loop_factories=value).loop_factories == expected


SECONDS = "Valid values: a number of seconds >= 0 (0 turns it off)."
FACTORIES = "Valid values: one or more loop factory names, each once, e.g. 'asyncio uvloop'."


# Line one is pytest-asyncio's wording ('VALUE' is not a valid KEY. Valid ...: ...), which
# suites and its own conformance tests match on.
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("asyncio_timeout", "inf", f"'inf' is not a valid asyncio_timeout. {SECONDS}"),
        ("asyncio_timeout", "nan", f"'nan' is not a valid asyncio_timeout. {SECONDS}"),
        (
            "asyncio_blocking_threshold",
            "-0.1",
            f"'-0.1' is not a valid asyncio_blocking_threshold. {SECONDS}",
        ),
        ("asyncio_mode", "Auto", "'Auto' is not a valid asyncio_mode. Valid modes: auto, strict."),
        (
            "asyncio_loop_factories",
            " , ",
            f"',' is not a valid asyncio_loop_factories. {FACTORIES}",
        ),
        (
            "asyncio_loop_factories",
            "asyncio uvloop asyncio",
            f"'asyncio uvloop asyncio' is not a valid asyncio_loop_factories. {FACTORIES}",
        ),
    ],
)
def test_bad_values_are_usage_errors_naming_key_value_and_the_valid_ones(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(pytest.UsageError) as caught:
        settings(None, **{key: value})
    assert str(caught.value) == message


def test_header_line() -> None:
    assert header_line(settings(asyncio_default_fixture_loop_scope="module")) == (
        "asyncio: mode=strict, debug=False, asyncio_default_fixture_loop_scope=module, "
        "asyncio_default_test_loop_scope=function"
    )


def test_awaitest_header_lines() -> None:
    assert awaitest_header_lines(settings()) == [
        "awaitest loops: asyncio_loop_factories=asyncio, asyncio_clock=real, "
        "asyncio_eager_tasks=false",
        "awaitest checks: asyncio_timeout=0 (off), asyncio_blocking_threshold=0 (off), "
        "asyncio_unawaited=error, asyncio_task_leaks=warn, asyncio_loop_errors=error, "
        "asyncio_pending_on_failure=true",
    ]
    found = settings(
        event_loop_policy="uvloop.EventLoopPolicy", asyncio_timeout="2.5", asyncio_clock="virtual"
    )
    assert awaitest_header_lines(found) == [
        "awaitest loops: asyncio_loop_factories=asyncio, asyncio_clock=virtual, "
        "asyncio_eager_tasks=false, event_loop_policy=uvloop.EventLoopPolicy",
        "awaitest checks: asyncio_timeout=2.5, asyncio_blocking_threshold=0 (off), "
        "asyncio_unawaited=error, asyncio_task_leaks=warn, asyncio_loop_errors=error, "
        "asyncio_pending_on_failure=true",
    ]
