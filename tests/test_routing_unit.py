"""The output routes on their own: tasks on one loop, each in a context naming its sink."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Literal

import pytest

from awaitest._loops.routing import Routes, Sink, changes_output_state

SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("SINK", default=None)


def current() -> Sink | None:
    return SINK.get()


class Kept(logging.Handler):
    """A root handler that was there before the routes: a pytest phase's capture, say."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def streams() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What sys.stdout and sys.stderr are before the routes are entered (pytest's capture of
    a phase, in a run). Set in the test's body: pytest's capture puts its own back between
    phases, so a fixture can't set them for the call."""
    before = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err = io.StringIO(), io.StringIO()
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = before


@pytest.fixture
def kept() -> Iterator[Kept]:
    handler = Kept()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


async def interleave(*jobs: tuple[Sink | None, str]) -> None:
    """Each job prints three numbered lines, yielding to the others between them."""

    async def job(name: str) -> None:
        for n in range(3):
            print(f"{name} {n}")
            sys.stderr.write(f"{name} err {n}\n")
            await asyncio.sleep(0)

    tasks = []
    for sink, name in jobs:
        context = contextvars.copy_context()
        context.run(SINK.set, sink)
        tasks.append(asyncio.get_running_loop().create_task(job(name), context=context))
    await asyncio.gather(*tasks)


def test_two_contexts_writes_each_go_to_their_own_sink_interleaved() -> None:
    a, b = Sink(), Sink()
    with streams() as (stdout, stderr), Routes(current):
        asyncio.run(interleave((a, "a"), (b, "b"), (None, "none")))
    assert a.out.getvalue() == "a 0\na 1\na 2\n"
    assert b.out.getvalue() == "b 0\nb 1\nb 2\n"
    assert a.err.getvalue() == "a err 0\na err 1\na err 2\n"
    assert b.err.getvalue() == "b err 0\nb err 1\nb err 2\n"
    # No sink: the stream that was there, as if there were no routes.
    assert stdout.getvalue() == "none 0\nnone 1\nnone 2\n"
    assert stderr.getvalue() == "none err 0\nnone err 1\nnone err 2\n"


def test_the_router_is_the_replaced_stream_for_everything_but_writes() -> None:
    with streams() as (stdout, _), Routes(current):
        assert sys.stdout.getvalue() == ""  # type: ignore[union-attr]
        assert sys.stdout.isatty() is False
        sys.stdout.writelines(["x", "y\n"])
        sys.stdout.flush()
    assert stdout.getvalue() == "xy\n"


def test_exit_restores_exactly_what_each_enter_found() -> None:
    routes = Routes(current)
    root = logging.getLogger()
    handlers, level, showwarning = list(root.handlers), root.level, warnings.showwarning
    with streams() as (stdout, stderr):
        with routes:
            assert sys.stdout is not stdout
            assert sys.stderr is not stderr
        assert (sys.stdout, sys.stderr) == (stdout, stderr)
        # The streams changed identity between two runs (pytest's capture resumed, say): the
        # next enter wraps the new one and its exit puts back the new one.
        other = io.StringIO()
        sys.stdout = other
        with routes:
            print("to the new one")
        assert sys.stdout is other
    assert other.getvalue() == "to the new one\n"
    assert stdout.getvalue() == ""
    assert root.handlers == handlers
    assert root.level == level
    assert warnings.showwarning is showwarning
    assert all(h.filters == [] for h in handlers if not isinstance(h, Kept))


def test_streams_can_be_left_alone() -> None:
    sink = Sink()
    with streams() as (stdout, _), Routes(current, streams=False):
        assert sys.stdout is stdout
        token = SINK.set(sink)
        try:
            print("live")
        finally:
            SINK.reset(token)
    assert stdout.getvalue() == "live\n"
    assert sink.out.getvalue() == ""


def test_a_message_that_cant_be_made_raises_where_it_was_logged() -> None:
    log = logging.getLogger("awaitest.test.routing")
    sink = Sink()
    with Routes(current):
        token = SINK.set(sink)
        try:
            with pytest.raises(TypeError, match="not all arguments converted"):
                log.warning("no placeholder", "an argument")  # noqa: PLE1205 - on purpose
        finally:
            SINK.reset(token)
    assert sink.records == []


def test_nested_enters_each_undo_their_own() -> None:
    routes, sink = Routes(current), Sink()
    token = SINK.set(sink)
    with streams() as (stdout, _):
        try:
            with routes:
                outer = sys.stdout
                with routes:
                    print("inner")
                assert sys.stdout is outer
                print("outer")
        finally:
            SINK.reset(token)
        assert sys.stdout is stdout
    assert sink.out.getvalue() == "inner\nouter\n"
    assert stdout.getvalue() == ""


def test_entered_many_times_nothing_piles_up(kept: Kept) -> None:
    routes = Routes(current)
    root = logging.getLogger()
    handlers = list(root.handlers)
    for _ in range(1000):
        with streams() as (stdout, _), routes:
            # One router deep in front of the stream, one handler more on the root logger.
            assert sys.stdout.replaced is stdout  # type: ignore[union-attr]
            assert len(root.handlers) == len(handlers) + 1
            assert len(kept.filters) == 1
    assert root.handlers == handlers
    assert kept.filters == []


def test_log_records_go_to_the_sink_and_not_to_the_handlers_already_there(kept: Kept) -> None:
    log = logging.getLogger("awaitest.test.routing")
    sink = Sink()
    with Routes(current):
        token = SINK.set(sink)
        try:
            log.warning("routed %s", "one")
        finally:
            SINK.reset(token)
        log.warning("not routed")
    assert [r.getMessage() for r in sink.records] == ["routed one"]
    assert kept.messages == ["not routed"]


def test_handlers_that_are_no_capture_get_the_tests_records_too() -> None:
    capture, log_file = Kept(), Kept()
    root = logging.getLogger()
    root.addHandler(capture)
    root.addHandler(log_file)
    sink = Sink()
    try:
        with Routes(current, captures=lambda handler: handler is capture):
            token = SINK.set(sink)
            try:
                logging.getLogger("awaitest.test.routing").warning("routed")
            finally:
                SINK.reset(token)
    finally:
        root.removeHandler(capture)
        root.removeHandler(log_file)
    assert [r.getMessage() for r in sink.records] == ["routed"]
    assert capture.messages == []
    assert log_file.messages == ["routed"]
    assert capture.filters == log_file.filters == []


def test_the_records_level_is_lowered_while_entered_and_put_back(kept: Kept) -> None:
    log = logging.getLogger("awaitest.test.routing")
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)
    sink = Sink()
    try:
        with Routes(current, level=logging.INFO):
            assert root.level == logging.INFO
            token = SINK.set(sink)
            try:
                log.info("kept")
                log.debug("below the level")
            finally:
                SINK.reset(token)
        assert root.level == logging.WARNING
        log.info("not made: the root is at WARNING again")
    finally:
        root.setLevel(before)
    assert [r.getMessage() for r in sink.records] == ["kept"]
    assert kept.messages == []


def test_a_records_message_is_made_when_it_is_logged() -> None:
    log = logging.getLogger("awaitest.test.routing")
    sink, items = Sink(), ["first"]
    with Routes(current):
        token = SINK.set(sink)
        try:
            log.warning("items: %s", items)
        finally:
            SINK.reset(token)
    items.append("later")
    (record,) = sink.records
    assert record.getMessage() == "items: ['first']"
    assert record.name == "awaitest.test.routing"
    assert record.levelname == "WARNING"


def test_warnings_go_to_the_sink_or_to_the_recording_that_was_there() -> None:
    sink = Sink()
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        with Routes(current):
            token = SINK.set(sink)
            try:
                warnings.warn("routed", UserWarning, stacklevel=1)
            finally:
                SINK.reset(token)
            warnings.warn("not routed", RuntimeWarning, stacklevel=1)
    assert [(str(w.message), w.category) for w in sink.warnings] == [("routed", UserWarning)]
    assert sink.warnings[0].filename == __file__
    assert [(str(w.message), w.category) for w in recorded] == [("not routed", RuntimeWarning)]


def test_an_error_filter_raises_in_the_code_that_warned() -> None:
    sink = Sink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Routes(current):
            token = SINK.set(sink)
            try:
                with pytest.raises(UserWarning, match="an error"):
                    warnings.warn("an error", UserWarning, stacklevel=1)
            finally:
                SINK.reset(token)
    assert sink.warnings == []


def test_warnings_from_interleaved_tasks_go_to_their_own_sinks() -> None:
    async def warner(name: str) -> None:
        for n in range(2):
            warnings.warn(f"{name} {n}", UserWarning, stacklevel=1)
            await asyncio.sleep(0)

    async def main(a: Sink, b: Sink) -> None:
        loop = asyncio.get_running_loop()
        tasks = []
        for sink, name in ((a, "a"), (b, "b")):
            context = contextvars.copy_context()
            context.run(SINK.set, sink)
            tasks.append(loop.create_task(warner(name), context=context))
        await asyncio.gather(*tasks)

    a, b = Sink(), Sink()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with Routes(current):
            asyncio.run(main(a, b))
    assert [str(w.message) for w in a.warnings] == ["a 0", "a 1"]
    assert [str(w.message) for w in b.warnings] == ["b 0", "b 1"]


def warn_same() -> None:
    warnings.warn("the same warning", UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    ("action", "shown"),
    [
        # once per test, as each test had a registry of its own (a serial run)
        ("default", {"a": 1, "b": 1}),
        ("module", {"a": 1, "b": 1}),
        ("always", {"a": 2, "b": 2}),
    ],
)
def test_a_warning_shown_once_is_shown_once_per_test(
    action: Literal["default", "module", "always"], shown: dict[str, int]
) -> None:
    async def warner() -> None:
        for _ in range(2):
            warn_same()
            await asyncio.sleep(0)

    async def main(sinks: dict[str, Sink]) -> None:
        loop = asyncio.get_running_loop()
        tasks = []
        for sink in sinks.values():
            context = contextvars.copy_context()
            context.run(SINK.set, sink)
            tasks.append(loop.create_task(warner(), context=context))
        await asyncio.gather(*tasks)

    sinks = {"a": Sink(), "b": Sink()}
    with warnings.catch_warnings(record=True) as unrouted:
        warnings.simplefilter(action)
        with Routes(current):
            asyncio.run(main(sinks))
            warn_same()  # no test: the registry is as if no test had warned
            warn_same()
    assert {name: len(sink.warnings) for name, sink in sinks.items()} == shown
    assert len(unrouted) == (2 if action == "always" else 1)


async def catches_with_pytest() -> None:
    with pytest.warns(UserWarning, match="never run"):
        await asyncio.sleep(0)


async def redirects() -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        await asyncio.sleep(0)


async def filters_inside_a_nested_function() -> None:
    def quiet() -> None:
        warnings.simplefilter("ignore")

    quiet()
    await asyncio.sleep(0)


async def only_waits() -> None:
    await asyncio.sleep(0)
    print("and prints")
    logging.getLogger("x").warning("and logs")
    warnings.warn("and warns", UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (catches_with_pytest, "warns"),
        (redirects, "redirect_stdout"),
        (filters_inside_a_nested_function, "simplefilter"),
        (only_waits, None),
    ],
)
def test_code_that_changes_where_output_goes_is_named(function: object, name: str | None) -> None:
    assert changes_output_state(function.__code__) == name  # type: ignore[attr-defined]
