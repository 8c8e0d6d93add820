"""Reading and validating configuration, once per run, into a frozen :class:`Settings`.

Every key is read as a string and checked here, so a bad value is one ``pytest.UsageError``
(exit code 4) naming the key, the value and what is allowed -- never a traceback.
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypeVar

import pytest

from ._checks import Severity
from ._errors import bad_value
from ._loops.factories import NO_EAGER_TASKS, key_of
from ._record import Record
from ._scopes import SCOPES, Scope, is_scope

_T = TypeVar("_T", bound=str)
Mode = Literal["strict", "auto"]
Clock = Literal["real", "virtual"]
ConcurrentTests = Literal["marked", "all"]

MODES: Final = ("auto", "strict")
SEVERITIES: Final = ("error", "warn", "ignore")
CLOCKS: Final = ("real", "virtual")
CONCURRENT_TESTS: Final = ("marked", "all")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


class Settings(Record):
    __slots__ = (
        "blocking_threshold",
        "clock",
        "concurrency",
        "concurrent_tests",
        "debug",
        "default_fixture_loop_scope",
        "default_test_loop_scope",
        "eager_tasks",
        "event_loop_policy",
        "loop_errors",
        "loop_factories",
        "mode",
        "pending_on_failure",
        "task_leaks",
        "timeout",
        "unawaited",
    )

    def __init__(  # noqa: PLR0917 - the fields, in order, as a NamedTuple took them
        self,
        mode: Mode = "strict",
        debug: bool = False,
        default_fixture_loop_scope: Scope | None = None,
        default_test_loop_scope: Scope = "function",
        loop_factories: tuple[str, ...] = ("asyncio",),
        event_loop_policy: str | None = None,
        eager_tasks: bool = False,
        timeout: float = 0.0,
        unawaited: Severity = "error",
        task_leaks: Severity = "warn",
        blocking_threshold: float = 0.0,
        loop_errors: Severity = "error",
        clock: Clock = "real",
        pending_on_failure: bool = True,
        concurrency: int = 0,
        concurrent_tests: ConcurrentTests = "marked",
    ) -> None:
        self.mode = mode
        self.debug = debug
        self.default_fixture_loop_scope = default_fixture_loop_scope
        self.default_test_loop_scope = default_test_loop_scope
        self.loop_factories = loop_factories
        self.event_loop_policy = event_loop_policy
        self.eager_tasks = eager_tasks
        self.timeout = timeout
        self.unawaited = unawaited
        self.task_leaks = task_leaks
        self.blocking_threshold = blocking_threshold
        self.loop_errors = loop_errors
        self.clock = clock
        self.pending_on_failure = pending_on_failure
        #: The most tests in flight at once on a shared loop; 0: none (concurrency off).
        self.concurrency = concurrency
        #: Which tests opt in: those marked ``@pytest.mark.awaitest(concurrent=True)``, or all.
        self.concurrent_tests = concurrent_tests

    @property
    def auto(self) -> bool:
        return self.mode == "auto"


# key -> (help text, ini default, CLI flag). A flag given wins over the ini key.
_INI: Final[dict[str, tuple[str, str, str]]] = {
    "asyncio_mode": (
        "'strict' (default) or 'auto': auto runs every async def test",
        "strict",
        "--asyncio-mode",
    ),
    "asyncio_default_fixture_loop_scope": (
        "loop scope of async fixtures without loop_scope",
        "",
        "--asyncio-default-fixture-loop-scope",
    ),
    "asyncio_default_test_loop_scope": (
        "loop scope of async tests (default function)",
        "function",
        "--asyncio-default-test-loop-scope",
    ),
    "asyncio_debug": ("run event loops in asyncio debug mode", "false", "--asyncio-debug"),
    "asyncio_loop_factories": (
        "loop factories each async test runs on: asyncio, uvloop, module:callable",
        "asyncio",
        "--asyncio-loop-factories",
    ),
    "event_loop_policy": (
        "dotted path of an event loop policy class, e.g. uvloop.EventLoopPolicy",
        "",
        "--asyncio-event-loop-policy",
    ),
    "asyncio_eager_tasks": (
        "start tasks eagerly (asyncio.eager_task_factory, Python 3.12+) on every loop",
        "false",
        "--asyncio-eager-tasks",
    ),
    "asyncio_timeout": (
        "seconds an async test may take, setup and teardown included; 0 = no limit",
        "0",
        "--asyncio-timeout",
    ),
    "asyncio_unawaited": (
        "coroutines never awaited: error (default), warn or ignore",
        "error",
        "--asyncio-unawaited",
    ),
    "asyncio_task_leaks": (
        "tasks a test left pending: warn (default), error or ignore",
        "warn",
        "--asyncio-task-leaks",
    ),
    "asyncio_blocking_threshold": (
        "seconds one callback may hold the loop; 0 = off",
        "0",
        "--asyncio-blocking-threshold",
    ),
    "asyncio_loop_errors": (
        "exceptions reaching the loop's handler: error (default), warn or ignore",
        "error",
        "--asyncio-loop-errors",
    ),
    "asyncio_clock": (
        "'real' (default) or 'virtual' time for function-loop tests",
        "real",
        "--asyncio-clock",
    ),
    "asyncio_pending_on_failure": (
        "list the tasks a failing test left pending in its report: true (default) or false",
        "true",
        "--asyncio-pending-on-failure",
    ),
    "asyncio_concurrency": (
        "the most async tests in flight at once on one shared loop; 0 (default) = off",
        "0",
        "--asyncio-concurrency",
    ),
    "asyncio_concurrent_tests": (
        "which tests may run concurrently: 'marked' (default, "
        "@pytest.mark.awaitest(concurrent=True)) or 'all' eligible async tests",
        "marked",
        "--asyncio-concurrent-tests",
    ),
}


#: Keys whose flag takes no value: given, it sets the key to true (as pytest-asyncio's
#: ``--asyncio-debug`` does).
_SWITCHES: Final = frozenset({"asyncio_debug", "asyncio_eager_tasks"})


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("awaitest", "async tests (awaitest)")
    # pytest-asyncio's plugin, when loaded before ours (see ``_entry``), added --asyncio-mode and
    # --asyncio-debug to its group: same dest, default and meaning, so they stay its own. (Its
    # ini keys are replaced by ours: addini keeps the last definition.)
    taken = {name for option in parser.getgroup("asyncio").options for name in option.names()}
    for key, (help_text, default, flag) in _INI.items():
        parser.addini(key, help_text, type="string", default=default)
        if flag in taken:
            continue
        described = f"{help_text} (ini: {key})"
        if key in _SWITCHES:
            group.addoption(flag, action="store_true", dest=key, default=None, help=described)
        else:
            group.addoption(flag, dest=key, default=None, metavar="VALUE", help=described)


def read_settings(config: pytest.Config) -> Settings:
    def raw(key: str) -> str:
        cli = config.getoption(key, None)  # the flag, when given, wins over the ini key
        if cli is not None:
            return "true" if cli is True else str(cli).strip()
        value = config.getini(key)
        return value.strip() if isinstance(value, str) else str(value)

    loop_factories = _names("asyncio_loop_factories", raw("asyncio_loop_factories"))
    return Settings(
        mode=_choice("asyncio_mode", raw("asyncio_mode"), MODES, noun="modes"),
        debug=_boolean("asyncio_debug", raw("asyncio_debug")),
        default_fixture_loop_scope=_optional_scope(
            "asyncio_default_fixture_loop_scope", raw("asyncio_default_fixture_loop_scope")
        ),
        default_test_loop_scope=_scope(
            "asyncio_default_test_loop_scope", raw("asyncio_default_test_loop_scope")
        ),
        loop_factories=loop_factories,
        event_loop_policy=raw("event_loop_policy") or None,
        eager_tasks=_eager_tasks(raw("asyncio_eager_tasks"), loop_factories),
        timeout=_seconds("asyncio_timeout", raw("asyncio_timeout")),
        unawaited=_choice("asyncio_unawaited", raw("asyncio_unawaited"), SEVERITIES),
        task_leaks=_choice("asyncio_task_leaks", raw("asyncio_task_leaks"), SEVERITIES),
        blocking_threshold=_seconds(
            "asyncio_blocking_threshold", raw("asyncio_blocking_threshold")
        ),
        loop_errors=_choice("asyncio_loop_errors", raw("asyncio_loop_errors"), SEVERITIES),
        clock=_choice("asyncio_clock", raw("asyncio_clock"), CLOCKS),
        pending_on_failure=_boolean(
            "asyncio_pending_on_failure", raw("asyncio_pending_on_failure")
        ),
        concurrency=_count("asyncio_concurrency", raw("asyncio_concurrency")),
        concurrent_tests=_choice(
            "asyncio_concurrent_tests", raw("asyncio_concurrent_tests"), CONCURRENT_TESTS
        ),
    )


def header_line(settings: Settings) -> str:
    return (
        f"asyncio: mode={settings.mode}, debug={settings.debug}, "
        f"asyncio_default_fixture_loop_scope={settings.default_fixture_loop_scope}, "
        f"asyncio_default_test_loop_scope={settings.default_test_loop_scope}"
    )


def awaitest_header_lines(settings: Settings) -> list[str]:
    """What awaitest has on beyond pytest-asyncio's fields, as ``key=value`` with the ini keys'
    names and spellings: the loops, then the checks."""
    loops = [
        f"asyncio_loop_factories={' '.join(settings.loop_factories)}",
        f"asyncio_clock={settings.clock}",
        f"asyncio_eager_tasks={str(settings.eager_tasks).lower()}",
    ]
    if settings.event_loop_policy is not None:
        loops.append(f"event_loop_policy={settings.event_loop_policy}")
    checks = [
        f"asyncio_timeout={_shown_seconds(settings.timeout)}",
        f"asyncio_blocking_threshold={_shown_seconds(settings.blocking_threshold)}",
        f"asyncio_unawaited={settings.unawaited}",
        f"asyncio_task_leaks={settings.task_leaks}",
        f"asyncio_loop_errors={settings.loop_errors}",
        f"asyncio_pending_on_failure={str(settings.pending_on_failure).lower()}",
    ]
    return [f"awaitest loops: {', '.join(loops)}", f"awaitest checks: {', '.join(checks)}"]


def _shown_seconds(seconds: float) -> str:
    return f"{seconds:g}" if seconds else "0 (off)"


def _choice(key: str, value: str, valid: tuple[_T, ...], *, noun: str = "values") -> _T:
    for option in valid:
        if value == option:
            return option
    raise bad_value(key, value, valid, noun=noun)


#: pytest-asyncio's words for the scopes a key accepts.
_SCOPES_ARE: Final = "scopes are"


def _scope(key: str, value: str) -> Scope:
    if is_scope(value):
        return value
    raise bad_value(key, value, SCOPES, noun=_SCOPES_ARE)


#: pytest-asyncio's name for "each fixture on the loop of its own scope", our default.
FIXTURE_SCOPE: Final = "fixture-scope"


def _optional_scope(key: str, value: str) -> Scope | None:
    if value in ("", FIXTURE_SCOPE):
        return None
    if is_scope(value):
        return value
    raise bad_value(
        key,
        value,
        SCOPES,
        noun=_SCOPES_ARE,
        more=f"{FIXTURE_SCOPE} is valid too: each async fixture on the loop of its own scope.",
    )


def _boolean(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise bad_value(key, value, ("true", "false"))


def _seconds(key: str, value: str) -> float:
    try:
        seconds = float(value or "0")
    except ValueError:
        seconds = math.nan
    if math.isnan(seconds) or seconds < 0 or math.isinf(seconds):
        raise bad_value(key, value, "a number of seconds >= 0 (0 turns it off)")
    return seconds


def _count(key: str, value: str) -> int:
    try:
        count = int(value or "0")
    except ValueError:
        count = -1
    if count < 0:
        raise bad_value(
            key, value, "a whole number >= 0 of tests in flight at once (0 turns it off)"
        )
    return count


def _eager_tasks(value: str, loop_factories: tuple[str, ...]) -> bool:
    key = "asyncio_eager_tasks"
    if not _boolean(key, value):
        return False
    if NO_EAGER_TASKS:
        raise pytest.UsageError(
            f"{key} = {value}: running tasks eagerly {NO_EAGER_TASKS}. Remove the key, or turn it "
            f"off on this Python: -o {key}=false"
        )
    for name in loop_factories:
        twin = key_of(name)
        if twin.eager and twin.name in loop_factories:
            raise pytest.UsageError(
                f"{key} = {value} makes every loop factory's tasks eager, so {twin.name!r} and "
                f"{name!r} in asyncio_loop_factories would run each test twice the same way. "
                f"Remove {key}, or {name!r}."
            )
    return True


def _names(key: str, value: str) -> tuple[str, ...]:
    names = tuple(value.replace(",", " ").split())
    if not names or len(set(names)) != len(names):
        raise bad_value(
            key, value, "one or more loop factory names, each once, e.g. 'asyncio uvloop'"
        )
    return names
