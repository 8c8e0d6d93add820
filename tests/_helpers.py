"""What many plugin tests do the same way, written once."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Final

import pytest


def ini(pytester: pytest.Pytester, **keys: str) -> None:
    """Write the run's ini file, one ``key = value`` line per keyword, in order:
    ``ini(pytester, asyncio_mode="auto", asyncio_timeout="0.2")``. It replaces the previous
    one, the ``mode`` fixture's included: pass ``asyncio_mode=mode`` to keep the mode."""
    lines = [f"{key} = {value}" for key, value in keys.items()]
    pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")


def package(pytester: pytest.Pytester, name: str, **modules: str) -> Path:
    """A package ``name`` holding ``modules`` (name -> source, dedented); a module name with a
    ``/`` goes into a subpackage, made on the way. Returns the package's directory."""
    root = pytester.mkpydir(name)
    for module, source in modules.items():
        path = root.joinpath(f"{module}.py")
        directory = root
        for part in Path(module).parent.parts:
            directory = directory / part
            if not directory.is_dir():
                directory.mkdir()
                directory.joinpath("__init__.py").write_text("")
        path.write_text(textwrap.dedent(source).lstrip("\n"))
    return root


#: ``path::test_id VERDICT`` as ``-v`` prints it (``-s`` would put the test's output between).
_VERBOSE_LINE: Final = re.compile(r"^\S+?::(\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


def verdicts(result: pytest.RunResult) -> dict[str, str]:
    """Each test's verdict in a ``-v`` run, by id without the file:
    ``{"test_sleeps[asyncio]": "PASSED", "TestA::test_1": "FAILED"}``. A test that also errs
    at teardown keeps its first verdict."""
    found: dict[str, str] = {}
    for line in result.stdout.lines:
        match = _VERBOSE_LINE.match(line)
        if match is not None:
            found.setdefault(match[1], match[2])
    return found


def run_verbose(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    """Run with ``-v`` (and ``args``) and return :func:`verdicts`."""
    return verdicts(pytester.runpytest("-v", *args))
