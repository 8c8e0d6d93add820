"""What a test that ran beside others printed, logged and warned, put where a serial run has it.

While a batch's tests share one loop, :class:`~awaitest._loops.routing.Routes` keeps each test's
output in its own :class:`~awaitest._loops.routing.Sink` (the mechanics, pytest-free). This
module makes the pytest decisions around it:

- :func:`routes`: the run's routes. Records are kept at pytest's ``log_level`` and kept from
  pytest's captures of the phase being run only (a ``--log-file`` and the user's root
  handlers get them as serially); with ``-s`` the streams are not routed, so output goes to
  the terminal as it is written, as it does serially.
- :func:`loop_run`: what to enter around each run of the batch's loop: the routes. The
  warning filters in force are those of the protocol of the batch's test being set up or
  taken in (the loop only runs inside a batch member's protocol, and a test with
  ``filterwarnings`` marks of its own never joins a batch): the run's (ini, ``-W``), so
  ``error`` raises in the test that warned exactly when it would serially. The filters are not
  set again per loop run: that would undo, at the end of each loop step of an async fixture's
  setup, a filter the fixture set for its test.
- :func:`own_warnings`: around a phase of a test that runs outside its own protocol (its call
  report and its teardown, made while a later test's protocol runs): pytest's capture of
  warnings for that test, so a teardown's warning is reported under the test that owns it.
- :func:`attach`: before the test's call phase is reported, its sink becomes the report's
  ``Captured stdout call``, ``Captured stderr call`` and ``Captured log call`` sections (in
  that order, as pytest's capture and logging plugins add them) and its warnings are reported
  through ``pytest_warning_recorded`` under its node id, ``when="runtest"``, as pytest's
  warnings plugin reports a serial test's.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterable
from typing import Final

import pytest

from ._loops.routing import Current, Routes, Sink
from ._pytest_private.internals import (
    caught_warnings,
    is_log_capture,
    log_level,
    log_section_formatter,
)

__all__ = ["attach", "loop_run", "own_warnings", "routes"]

#: the phase a test's routed output belongs to: its task is its call
CALL: Final = "call"


def routes(config: pytest.Config, current: Current) -> Routes:
    """The routes of the run; ``current()`` names the sink of the running context's test."""
    return Routes(
        current,
        level=log_level(config),
        streams=config.getoption("capture") != "no",
        captures=is_log_capture,
    )


def loop_run(config: pytest.Config, routes: Routes) -> contextlib.AbstractContextManager[object]:
    """Enter around every run of a batch's loop (see the module's docstring). Today that is
    ``routes`` alone; ``config`` is taken so that the batch's runner needn't change if a loop
    run needs more of the run's settings."""
    del config
    return routes


def own_warnings(item: pytest.Item) -> contextlib.AbstractContextManager[None]:
    """Enter around a phase of ``item`` run outside its own protocol (see the module's
    docstring)."""
    return caught_warnings(item.config, item, record=True)


def attach(item: pytest.Item, sink: Sink) -> None:
    """Put ``sink`` where a serial run has the output of ``item``'s call. Called at the end of
    its ``pytest_pyfunc_call`` (after awaitest's own sections, the pending tasks'), inside
    pytest's call phase, whose capture then adds its (empty) sections and makes the report."""
    item.add_report_section(CALL, "stdout", sink.out.getvalue())
    item.add_report_section(CALL, "stderr", sink.err.getvalue())
    formatter = log_section_formatter(item.config)
    if formatter is not None:
        item.add_report_section(CALL, "log", log_text(formatter, sink.records))
    for message in sink.warnings:
        item.ihook.pytest_warning_recorded.call_historic(
            kwargs={
                "warning_message": message,
                "nodeid": item.nodeid,
                "when": "runtest",
                "location": None,
            }
        )


def log_text(formatter: logging.Formatter, records: Iterable[logging.LogRecord]) -> str:
    """The text of a log section: each record as pytest's capture handler writes it (a stream
    handler: the formatted record and a newline), the whole stripped, as pytest strips it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for record in records:
        handler.handle(record)
    return stream.getvalue().strip()
