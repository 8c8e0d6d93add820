"""The development setup the README's Quick start gives: its coverage counts awaitest's own
import, which pytest-cov's ``--cov`` can't (pytest imports plugins before pytest-cov starts)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _quick_start() -> list[str]:
    """The commands of the README's Quick start block, as .ci/run reads them."""
    section = (ROOT / "README.md").read_text().split("## Quick start\n", 1)[1].split("\n## ")[0]
    block = re.search(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert block is not None
    return block[1].splitlines()


def test_the_quick_start_runs_the_suite_under_coverage_run() -> None:
    commands = _quick_start()
    assert len(commands) == 2  # .ci/run runs exactly two
    assert commands[1] == 'pip install -e ".[test]" && coverage run -m pytest && coverage report'


def test_coverage_run_counts_the_plugins_import(pytester: pytest.Pytester) -> None:
    """A module run only at import (the hookspec) is covered under ``coverage run``; with
    ``--cov`` coverage says it came too late and counts those lines as missed."""
    (pytester.path / ".coveragerc").write_text("[run]\nsource = awaitest\nbranch = true\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    hookspec = "_hookspec.py"

    late = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--cov")
    assert late.ret == 0
    late.stdout.fnmatch_lines(
        [f"*{hookspec} * 0%*"]  # its 8 statements ran, before measuring began
    )
    assert "module-not-measured" in late.stdout.str() + late.stderr.str()

    run = pytester.run(
        sys.executable, "-m", "coverage", "run", "-m", "pytest", "-p", "no:cacheprovider"
    )
    assert run.ret == 0
    assert "module-not-measured" not in run.stdout.str() + run.stderr.str()
    report = pytester.run(sys.executable, "-m", "coverage", "report", "--include", f"*/{hookspec}")
    report.stdout.fnmatch_lines([f"*awaitest/{hookspec} * 100%"])
