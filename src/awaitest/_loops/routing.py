"""Per-test output while several tests' tasks share one loop: what a test writes to
``sys.stdout``/``sys.stderr``, logs, and warns goes to that test's :class:`Sink`.

pytest captures per phase and process-wide: it swaps ``sys.stdout`` and ``sys.stderr`` for its
own files when a phase starts, puts a handler on the root logger, records warnings with one
``catch_warnings``. While tests interleave on one loop, whichever pytest phase is running (or
none) would get every test's output. :class:`Routes`, entered around each run of the shared
loop, puts routers in front of whatever is there: each write, record or warning asks
``current()`` (the in-flight test of the running context, which asyncio switches per task step)
and goes to its sink, or, when there is none (a fixture's setup, asyncio's own code), to what
was there before, so pytest's capture of the phase being run gets it as it would today.

Routes is entered and exited around every loop run, not once per batch, because pytest's
capture swaps the streams between phases (the design's spike: a test's print made during
another test's async fixture setup landed in that setup's section until the routers were put in
front of each loop run). Each enter wraps the streams that are there at that moment and each
exit puts back exactly those.
"""

from __future__ import annotations

import copy
import io
import logging
import sys
import warnings
from collections.abc import Callable, Iterable
from types import CodeType, FrameType
from typing import Any, Final, TextIO, cast

from .._record import Record

__all__ = [
    "CHANGES_OUTPUT_STATE",
    "Current",
    "Routes",
    "Sink",
    "changes_output_state",
    "first_name",
]


class Sink:
    """One in-flight test's captured output."""

    __slots__ = ("err", "out", "records", "shown", "warnings")

    def __init__(self) -> None:
        #: what print()/sys.stdout.write wrote during its call
        self.out: io.StringIO = io.StringIO()
        #: what went to sys.stderr
        self.err: io.StringIO = io.StringIO()
        #: the log records that reached the root logger, their message already made
        self.records: list[logging.LogRecord] = []
        #: the warnings shown (the filters let them through), in order
        self.warnings: list[warnings.WarningMessage] = []
        #: the registry keys of the warnings it was shown that the filters show once (see
        #: _once_per_test)
        self.shown: set[tuple[object, ...]] = set()


Current = Callable[[], Sink | None]


class _Router:
    """Stands for ``sys.stdout`` or ``sys.stderr``: a write goes to the current test's buffer,
    or to the stream this router replaced. Anything else (``encoding``, ``isatty()``,
    ``fileno()``, ``buffer``) is the replaced stream's: fd-level output is not routed."""

    __slots__ = ("_current", "_pick", "replaced")

    def __init__(self, replaced: TextIO, current: Current, pick: Callable[[Sink], io.StringIO]):
        self.replaced = replaced
        self._current = current
        self._pick = pick

    def write(self, text: str) -> int:
        sink = self._current()
        if sink is None:
            return self.replaced.write(text)
        return self._pick(sink).write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._current() is None:
            self.replaced.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.replaced, name)


def _out(sink: Sink) -> io.StringIO:
    return sink.out


def _err(sink: Sink) -> io.StringIO:
    return sink.err


def _frozen(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of ``record`` whose message is made now, as pytest's handler formats a record
    when it is emitted: arguments the test mutates later don't change what it logged. The
    other handlers keep the original. A message that can't be made (arguments that don't fit
    the format) raises here, in the code that logged, as pytest's own capture handler makes a
    test fail on it."""
    kept = copy.copy(record)
    kept.msg, kept.args = record.getMessage(), None
    return kept


class _Keeper(logging.Handler):
    """The one root handler: keeps a record for the current test, at or above ``level``."""

    def __init__(self, current: Current, level: int | None) -> None:
        super().__init__()
        self._current = current
        self._level = logging.NOTSET if level is None else level

    def handle(self, record: logging.LogRecord) -> bool:
        # Overridden whole: no lock, no filters; a record of no test is left to the others.
        sink = self._current()
        if sink is not None and record.levelno >= self._level:
            sink.records.append(_frozen(record))
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() is used
        self.handle(record)


class _Installed(Record):
    """What one enter replaced, to put back on its exit."""

    __slots__ = ("filtered", "handler_added", "level", "showwarning", "stderr", "stdout")

    def __init__(  # noqa: PLR0917 - the fields, in order, as a NamedTuple took them
        self,
        stdout: TextIO,
        stderr: TextIO,
        showwarning: Callable[..., object],
        filtered: list[logging.Handler],
        handler_added: bool,
        level: int | None,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.showwarning = showwarning
        #: the root handlers this enter gave the filter that keeps routed records from them
        self.filtered = filtered
        #: this enter put the keeper on the root logger
        self.handler_added = handler_added
        #: the root logger's level before this enter lowered it (None: not lowered)
        self.level = level


#: how far up the stack the code that warned is looked for (warn()'s stacklevel, in practice)
_DEPTH: Final = 30


def _once_per_test(
    sink: Sink, message: Warning | str, category: type[Warning], filename: str, lineno: int
) -> bool:
    """Whether a warning shown for ``sink``'s test is one its test hasn't been shown yet, as
    if the warning registry were the test's own.

    Python remembers a warning the filters show once (the ``default`` and ``module`` actions)
    in the registry of the module that warned, and pytest makes that registry start afresh for
    each test (its filters are set again per test). Tests in flight together would share it:
    the second test warning the same from the same line would not be shown at all. So the key
    Python just put in that registry is taken out again, for the next test, and kept in the
    sink instead: a repeat within the same test is dropped, as Python would have dropped it.
    A warning of the ``always`` action leaves no key and is always kept; where the registry
    can't be found (``warn_explicit`` with a registry of its own) the warning is kept.
    """
    frame: FrameType | None = sys._getframe(2)  # above showwarning: warnings' _showwarnmsg
    for _ in range(_DEPTH):
        if frame is None:
            return True
        if frame.f_lineno == lineno and frame.f_code.co_filename == filename:
            break
        frame = frame.f_back
    else:
        return True
    registry = frame.f_globals.get("__warningregistry__")
    text = str(message)
    # The key, then the module action's: (text, category) in C's warnings, with a 0 in Python's.
    keys = [(text, category, lineno), (text, category), (text, category, 0)]
    found = [key for key in keys if isinstance(registry, dict) and registry.pop(key, None)]
    if not found:
        return True  # the always action
    if found[0] in sink.shown:
        return False
    sink.shown.add(found[0])
    return True


class Routes:
    """Enter around every run of a loop that several tests' tasks share (see the module's
    docstring). ``current()`` is called on every write, record and warning: keep it cheap.

    ``level`` is the level the test's records are kept at (pytest's ``log_level``): the root
    logger is lowered to it while entered, as pytest lowers it for each phase, so a record at
    that level is made at all. ``None`` keeps what the root logger lets through.

    ``captures`` says which of the root handlers there at an enter are a capture of the phase
    being run (pytest's): a record kept for a test is kept from those. Every other one (a log
    file, a user's handler) still gets it, as it would serially. ``None``: every root handler
    is taken for a capture.

    ``streams=False`` leaves ``sys.stdout`` and ``sys.stderr`` alone (pytest's ``-s``: output
    goes straight to the terminal as it is written, as in a serial run).

    Re-entering while entered is allowed (the inner enter wraps the routers, which pass a write
    with no test on to the outer ones) and each exit undoes its own enter only.
    """

    __slots__ = (
        "_captures",
        "_current",
        "_handler",
        "_level",
        "_not_routed",
        "_stack",
        "_streams",
    )

    def __init__(
        self,
        current: Current,
        *,
        level: int | None = None,
        streams: bool = True,
        captures: Callable[[logging.Handler], bool] | None = None,
    ) -> None:
        self._current: Final = current
        self._level: Final = level
        self._streams: Final = streams
        self._captures: Final = captures
        self._handler: Final = _Keeper(current, level)
        self._stack: list[_Installed] = []
        # One bound method, so that adding and removing it finds the same filter.
        self._not_routed: Final = self._no_sink

    def __enter__(self) -> Routes:
        current = self._current
        stdout, stderr, showwarning = sys.stdout, sys.stderr, warnings.showwarning
        root = logging.getLogger()
        handler_added = self._handler not in root.handlers
        filtered = [h for h in root.handlers if h is not self._handler and self._filter(h)]
        if handler_added:
            root.addHandler(self._handler)
        lowered = None
        if self._level is not None and root.level > self._level:  # NOTSET (0): lets all through
            lowered = root.level
            root.setLevel(self._level)
        self._stack.append(
            _Installed(
                stdout=stdout,
                stderr=stderr,
                showwarning=showwarning,
                filtered=filtered,
                handler_added=handler_added,
                level=lowered,
            )
        )
        if self._streams:
            sys.stdout = cast(TextIO, _Router(stdout, current, _out))
            sys.stderr = cast(TextIO, _Router(stderr, current, _err))
        warnings.showwarning = self._diverter(showwarning)
        return self

    def __exit__(self, *exc: object) -> None:
        installed = self._stack.pop()
        if self._streams:
            sys.stdout, sys.stderr = installed.stdout, installed.stderr
        warnings.showwarning = installed.showwarning  # type: ignore[assignment]
        root = logging.getLogger()
        if installed.level is not None:
            root.setLevel(installed.level)
        if installed.handler_added:
            root.removeHandler(self._handler)
        for handler in installed.filtered:
            handler.removeFilter(self._not_routed)

    def _filter(self, handler: logging.Handler) -> bool:
        """Keep a routed record from ``handler``, one of the root handlers already there, when
        it is a capture; True when this enter added the filter."""
        if self._captures is not None and not self._captures(handler):
            return False
        if self._not_routed in handler.filters:
            return False
        handler.addFilter(self._not_routed)
        return True

    def _no_sink(self, record: logging.LogRecord) -> bool:
        return self._current() is None

    def _diverter(self, before: Callable[..., object]) -> Callable[..., None]:
        """A ``warnings.showwarning`` that keeps a warning for the current test, or shows it
        the way ``before`` would. The filters have already let the warning through (an
        ``error`` filter raised it in the code that warned, so in the test's own task)."""
        current = self._current

        def showwarning(  # noqa: PLR0917 - warnings.showwarning's signature
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            sink = current()
            if sink is None:
                # Python's own showwarning hands the message on to what catch_warnings(record=
                # True) installed, so pytest's recording of the running phase still gets it.
                before(message, category, filename, lineno, file, line)
                return
            if _once_per_test(sink, message, category, filename, lineno):
                sink.warnings.append(
                    warnings.WarningMessage(message, category, filename, lineno, file, line)
                )

        return showwarning


#: Names that, called in a test's own code, change for their block where every test's warnings
#: or output go, or what time it is (process-wide): a block spanning an await in a test beside
#: others would catch or redirect theirs too, or move their loop's time, and loses its own
#: warnings at the end of each loop run (the run's filters are put back). Spelled as the code
#: names them: ``pytest.warns`` is the attribute ``warns``.
CHANGES_OUTPUT_STATE: Final = frozenset(
    {
        "warns",
        "deprecated_call",
        "catch_warnings",
        "simplefilter",
        "filterwarnings",
        "resetwarnings",
        "redirect_stdout",
        "redirect_stderr",
        # the clock: freezegun's block, time-machine's; the loop's time moves for every test
        "freeze_time",
        "travel",
    }
)


def changes_output_state(code: CodeType) -> str | None:
    """The first name of :data:`CHANGES_OUTPUT_STATE` that ``code`` (a test function's, with
    the functions, lambdas and comprehensions inside it) uses, else None. A test whose code
    uses one runs alone: whether its block spans an await can't be known beforehand, and when
    unsure the test runs alone. Code the test calls is not looked into."""
    return first_name(code, CHANGES_OUTPUT_STATE)


def first_name(code: CodeType, names: frozenset[str]) -> str | None:
    """The first of ``names`` that ``code`` or a code object inside it (functions, lambdas,
    comprehensions) names as a global or an attribute (``co_names``), else None."""
    pending = [code]
    while pending:
        current = pending.pop()
        for name in current.co_names:
            if name in names:
                return name
        pending.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return None
