"""Advisories: what awaitest tells the user without failing a test and without a Python warning.

A test's fixture left on another loop, a task left pending at ``asyncio_task_leaks = warn``, an
old pattern awaitest honours: pytest-asyncio says nothing about these, so a warning would turn
a suite with ``filterwarnings = error`` red where it is green under pytest-asyncio. Each
advisory is instead

* a section of the test's report (``Captured awaitest setup``, ``... call``, ``... teardown``),
  shown where pytest shows the test's captured output (with its failure, or with ``-rP``), and
* one entry of the ``awaitest advisories`` section at the end of the terminal summary, each
  text once with the tests it concerns.

The summary is built from the reports, not kept beside them: with pytest-xdist the sections
travel from the workers with the reports, so the controller lists them too.
"""

from __future__ import annotations

from typing import Final

import pytest

#: The key of the report sections: pytest titles them ``Captured awaitest <phase>``.
KEY: Final = "awaitest"
_TITLE: Final = f"Captured {KEY} "
#: How many test ids an entry of the summary names before it says how many more.
_NAMED: Final = 3


def advise(item: pytest.Item, when: str, text: str) -> None:
    """Report ``text`` on ``item``'s report of phase ``when`` ("setup", "call", "teardown")."""
    item.add_report_section(when, KEY, text)


class Summary:
    """The advisories of the run, gathered from the test reports: text -> test ids."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def gather(self, report: pytest.TestReport) -> None:
        """Take the advisories of ``report``'s own phase (a report also carries the sections
        of the phases before it)."""
        title = _TITLE + report.when if report.when else None
        for section, text in report.sections:
            if section == title:
                tests = self.found.setdefault(text, [])
                if report.nodeid not in tests:
                    tests.append(report.nodeid)

    def write(self, reporter: pytest.TerminalReporter) -> None:
        if not self.found:
            return
        reporter.write_sep("=", "awaitest advisories")
        for text, tests in self.found.items():
            reporter.write_line(f"{_named(tests)}: {text}")


def _named(tests: list[str]) -> str:
    if len(tests) <= _NAMED:
        return ", ".join(tests)
    return ", ".join(tests[:_NAMED]) + f" and {len(tests) - _NAMED} more"
