"""``@pytest.mark.asyncio(...)``: parsed and validated into a :class:`MarkerSpec`; and
``@pytest.mark.awaitest(...)``, a test's own settings of the checks, into :class:`CheckOverrides`.

The check settings have a marker of their own because pytest-asyncio refuses keywords it doesn't
know on ``asyncio``: a suite that also runs under pytest-asyncio keeps working with them.

Markers are read closest first (function, then class, then module ``pytestmark``); for each
keyword the closest marker that sets it wins. A bad marker never stops collection: it becomes a
:class:`MarkerError` that fails only the test it is on. Parsing is pure: it warns about nothing
and names no test. Deprecations come back in :attr:`MarkerSpec.notes` and problems in
:attr:`MarkerError.problem`, each to be put after ``"{nodeid}: "`` by the caller
(``_plan``), so one parse serves every test that shares the same marker objects.

Some messages keep pytest-asyncio's wording, for suites (and its conformance tests) that
match on it: the "defines both" and the "unexpected loop scope value" ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, NamedTuple

import pytest

from ._checks import Severity
from ._config import SEVERITIES
from ._errors import quoted_choices
from ._loops.factories import NO_EAGER_TASKS
from ._record import Record
from ._scopes import SCOPES, Scope, is_scope

KEYWORDS: Final = ("loop_scope", "loop_factories", "timeout", "eager_tasks")
_USAGE: Final = "use @pytest.mark.asyncio(loop_scope=..., loop_factories=[...], timeout=...)"
#: ``@pytest.mark.awaitest(...)``: each check's ini key without its ``asyncio_`` prefix.
CHECK_KEYWORDS: Final = (
    "unawaited",
    "task_leaks",
    "loop_errors",
    "blocking_threshold",
    "timeout",
    "pending_on_failure",
)
_SEVERITY_KEYWORDS: Final = ("unawaited", "task_leaks", "loop_errors")
#: Every keyword of ``@pytest.mark.awaitest(...)``: the checks', and whether the test may run
#: beside others (``concurrent``, see ``_concurrency``).
AWAITEST_KEYWORDS: Final = (*CHECK_KEYWORDS, "concurrent")


class MarkerSpec(Record):
    __slots__ = ("eager_tasks", "loop_factories", "loop_scope", "notes", "timeout")

    def __init__(
        self,
        loop_scope: Scope | None = None,
        loop_factories: tuple[str, ...] | None = None,
        timeout: float | None = None,
        eager_tasks: bool | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.loop_scope = loop_scope
        self.loop_factories = loop_factories
        self.timeout = timeout
        self.eager_tasks = eager_tasks
        #: Deprecated spellings found, one message each, without the test id.
        self.notes = notes


class MarkerError(Record):
    __slots__ = ("notes", "problem")

    def __init__(self, problem: str, notes: tuple[str, ...] = ()) -> None:
        self.problem = problem  # without the test id
        self.notes = notes  # as in MarkerSpec: deprecations found before the problem


EMPTY: Final = MarkerSpec()


def parse(marks: Iterable[pytest.Mark]) -> MarkerSpec | MarkerError:
    notes: list[str] = []
    parsed = _parse(marks, notes)
    return parsed._replace(notes=tuple(notes)) if notes else parsed


def _parse(marks: Iterable[pytest.Mark], notes: list[str]) -> MarkerSpec | MarkerError:
    loop_scope: Scope | None = None
    factories: tuple[str, ...] | None = None
    timeout: float | None = None
    eager_tasks: bool | None = None
    for mark in marks:
        if not mark.args and not mark.kwargs:
            continue  # a bare @pytest.mark.asyncio: nearly every test

        if mark.args:
            return MarkerError(
                f"mark.asyncio accepts only keyword arguments, but got positional argument "
                f"{mark.args[0]!r}; {_USAGE}"
            )
        kwargs = dict(mark.kwargs)
        if "scope" in kwargs:
            if "loop_scope" in kwargs:
                return MarkerError(
                    'An asyncio pytest marker defines both "scope" and "loop_scope", '
                    'but it should only use "loop_scope".\n"scope" is its old name: remove it.'
                )
            notes.append("mark.asyncio(scope=...) is deprecated; write loop_scope= instead")
            kwargs["loop_scope"] = kwargs.pop("scope")
        unknown = sorted(set(kwargs) - set(KEYWORDS))
        checks = [key for key in unknown if key in CHECK_KEYWORDS]
        if checks:
            return MarkerError(
                f"mark.asyncio has no keyword {checks[0]!r}: the checks' settings go on "
                f"awaitest's own marker, which pytest-asyncio leaves alone: "
                f"@pytest.mark.awaitest({checks[0]}=...)"
            )
        if unknown:
            return MarkerError(
                f"mark.asyncio accepts only keyword arguments {quoted_choices(KEYWORDS)}, "
                f"but got {unknown[0]!r}; {_USAGE}"
            )
        if loop_scope is None and "loop_scope" in kwargs:
            value = kwargs["loop_scope"]
            if not is_scope(value):
                return MarkerError(
                    f"mark.asyncio got an unexpected loop scope value {value!r}. "
                    f"Valid scopes are: {', '.join(SCOPES)}."
                )
            loop_scope = value
        if factories is None and "loop_factories" in kwargs:
            value = kwargs["loop_factories"]
            if isinstance(value, str) or not _all_names(value) or not value:
                return MarkerError(
                    f"mark.asyncio 'loop_factories' must be a non-empty sequence of factory names, "
                    f"e.g. loop_factories=['asyncio'], but got {value!r}"
                )
            factories = tuple(value)
        if timeout is None and "timeout" in kwargs:
            value = kwargs["timeout"]
            if not _is_seconds(value):
                return MarkerError(
                    f"mark.asyncio 'timeout' must be a number of seconds >= 0 (0 turns the limit "
                    f"off), but got {value!r}"
                )
            timeout = float(value)
        if eager_tasks is None and "eager_tasks" in kwargs:
            value = kwargs["eager_tasks"]
            if not isinstance(value, bool):
                return MarkerError(
                    f"mark.asyncio 'eager_tasks' must be True or False, but got {value!r}"
                )
            if value and NO_EAGER_TASKS:
                return MarkerError(
                    "mark.asyncio(eager_tasks=True): running tasks eagerly "
                    f"{NO_EAGER_TASKS}. To run the test eagerly where it can, write "
                    "eager_tasks=sys.version_info >= (3, 12)"
                )
            eager_tasks = value
    if loop_scope is None and factories is None and timeout is None and eager_tasks is None:
        return EMPTY
    return MarkerSpec(loop_scope, factories, timeout, eager_tasks)


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value >= 0
        and not math.isnan(value)
    )


class CheckOverrides(NamedTuple):
    """A test's own settings of the checks (None: the run's).

    perf: a NamedTuple, not a ``_record.Record`` like the other value classes: it is hashed in
    the key of every async test's plan (``SessionState.shared_plan``) and looked up for every
    marked test's policy, and a NamedTuple's hash and ``==`` are C code, where a Record's are
    Python calls (about 2,400 instructions more per hash, against about 0.9 M once at import).
    """

    unawaited: Severity | None = None
    task_leaks: Severity | None = None
    loop_errors: Severity | None = None
    blocking_threshold: float | None = None
    timeout: float | None = None
    pending_on_failure: bool | None = None
    #: ``concurrent=``: the test may run beside others (True) or must run alone (False).
    concurrent: bool | None = None


NO_OVERRIDES: Final = CheckOverrides()
_CHECKS_USAGE: Final = (
    "use @pytest.mark.awaitest(unawaited=..., task_leaks=..., loop_errors=... ('error', 'warn' "
    "or 'ignore'), blocking_threshold=..., timeout=... (seconds, 0 = off), "
    "pending_on_failure=... (True or False), concurrent=... (True or False))"
)


def parse_checks(marks: Iterable[pytest.Mark]) -> CheckOverrides | MarkerError:
    """``awaitest`` markers, closest first: for each keyword the closest that sets it wins."""
    found: dict[str, object] = {}
    for mark in marks:
        if mark.args:
            return MarkerError(
                f"mark.awaitest accepts only keyword arguments, but got positional argument "
                f"{mark.args[0]!r}; {_CHECKS_USAGE}"
            )
        for key, value in mark.kwargs.items():
            if key not in AWAITEST_KEYWORDS:
                return MarkerError(
                    f"mark.awaitest accepts only keyword arguments "
                    f"{quoted_choices(AWAITEST_KEYWORDS)}, but got {key!r}; {_CHECKS_USAGE}"
                )
            if key in found:
                continue
            if key in _SEVERITY_KEYWORDS:
                if value not in SEVERITIES:
                    return MarkerError(
                        f"mark.awaitest {key!r} must be {quoted_choices(SEVERITIES)}, "
                        f"but got {value!r}"
                    )
                found[key] = value
            elif key in ("pending_on_failure", "concurrent"):
                if not isinstance(value, bool):
                    return MarkerError(
                        f"mark.awaitest {key!r} must be True or False, but got {value!r}"
                    )
                found[key] = value
            elif _is_seconds(value):
                found[key] = float(value)
            else:
                return MarkerError(
                    f"mark.awaitest {key!r} must be a number of seconds >= 0 (0 turns it off), "
                    f"but got {value!r}"
                )
    return CheckOverrides(**found) if found else NO_OVERRIDES  # type: ignore[arg-type]


def _all_names(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)
