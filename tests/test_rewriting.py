"""pytest rewrites the asserts of awaitest's own modules no more (every run paid for compiling
them from source where it can't cache them), and still rewrites everybody else's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.assertion.rewrite import AssertionRewritingHook

import awaitest
from awaitest._pytest_private import keep_own_modules_unrewritten


def _rewrites(hook: AssertionRewritingHook, name: str, path: list[str] | None) -> bool:
    """Whether ``hook`` would load module ``name`` itself, i.e. rewrite it."""
    spec = hook.find_spec(name, path)
    return spec is not None and spec.loader is hook


def test_only_awaitest_is_unmarked(
    pytestconfig: pytest.Config, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(helpers="X = 1\n", awaitest_extras="Y = 1\n")
    monkeypatch.syspath_prepend(str(pytester.path))
    hook = AssertionRewritingHook(pytestconfig)
    hook.mark_rewrite("helpers", "awaitest_extras")  # as pytest marks plugins
    # awaitest is marked the same way, minus mark_rewrite()'s check of modules imported
    # already: pytest 8.4 makes that an error under filterwarnings = error, and awaitest was
    # imported long before this new hook existed (the test asks what the hook does next)
    hook._must_rewrite.add("awaitest")
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    ours = list(awaitest.__path__)
    assert _rewrites(hook, "awaitest.clock", ours)

    keep_own_modules_unrewritten()

    assert not _rewrites(hook, "awaitest.clock", ours)
    assert not _rewrites(hook, "awaitest._checks", ours)
    assert _rewrites(hook, "helpers", None)
    assert _rewrites(hook, "awaitest_extras", None)  # not ours, though its name starts alike


def test_no_hook_no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no rewriting hook (``--assert=plain``) it leaves the import system as it is."""
    finders = [f for f in sys.meta_path if not isinstance(f, AssertionRewritingHook)]
    monkeypatch.setattr(sys, "meta_path", finders)
    keep_own_modules_unrewritten()
    assert sys.meta_path == finders


#: Run in the subprocess: which modules of awaitest pytest's hook loaded, i.e. rewrote.
PROBE = """
import sys

import pytest

pytest.register_assert_rewrite("helpers")
import helpers


def by_hook(module):
    return type(module.__loader__).__name__ == "AssertionRewritingHook"


def pytest_sessionfinish():
    ours = sorted(m for m in sys.modules if m.split(".")[0] == "awaitest")
    rewritten = [m for m in ours if by_hook(sys.modules[m])]
    print("\\nawaitest from:", sys.modules["awaitest"].__file__)
    print("awaitest modules:", len(ours))
    print("rewritten:", rewritten)
    print("helpers rewritten:", by_hook(helpers))
"""


@pytest.mark.network
def test_an_installed_awaitest_is_not_rewritten(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Installed from a wheel, as users have it (pytest marks every module of the
    distribution): only the package's ``__init__`` and the module that unmarks the rest are
    rewritten; a helper the user registered, the conftest and the test file still are."""
    target = tmp_path / "site"
    source = Path(__file__).parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, source],
        check=True,
    )
    monkeypatch.setenv("PYTHONPATH", str(target))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    pytester.makepyfile(helpers="X = 1\n")
    pytester.makeconftest(PROBE)
    pytester.makepyfile(
        """
        async def test_rewritten():
            value = 2
            assert value == 1
        """
    )
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"awaitest from: {target / 'awaitest' / '__init__.py'}",
            "rewritten: ['awaitest', 'awaitest._pytest_private']",
            "helpers rewritten: True",
        ]
    )
    result.stdout.fnmatch_lines(["E       assert 2 == 1"])  # the test file: rewritten
    modules = next(line for line in result.outlines if line.startswith("awaitest modules:"))
    assert int(modules.split(": ")[1]) > 20
