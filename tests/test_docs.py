"""The docs are checked against the code, and every code block in them runs.

A page's code blocks whose first line is ``# file: PATH`` are written into one fresh directory
and pytest runs there; the page's ``<!-- docs-test: passed=N failed=M args="..." -->`` comment
gives the outcome it promises (without one: everything passes), and ``python=3.12`` in it says
the examples need that Python or newer (on older ones the page's run is skipped). Tables in
``docs/configuration.md`` are compared with the plugin's own lists of keys, flags, defaults,
marker keywords, fixtures and public names.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

import awaitest
from awaitest import _config, _marker

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
_BLOCK = re.compile(r"^```[a-z]*\n# file: (?P<path>\S+)[^\n]*\n(?P<body>.*?)^```", re.M | re.S)
_EXPECT = re.compile(r"<!-- docs-test: (?P<spec>.*?) -->")


def _runnable_pages() -> list[Path]:
    return [page for page in PAGES if _BLOCK.search(page.read_text())]


@pytest.mark.parametrize("page", _runnable_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(pytester: pytest.Pytester, page: Path) -> None:
    text = page.read_text()
    for match in _BLOCK.finditer(text):
        target = pytester.path / match["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(match["body"])
    expected: dict[str, int] = {}
    args: list[str] = []
    spec = _EXPECT.search(text)
    if spec is not None:
        for word in shlex.split(spec["spec"]):
            key, _, value = word.partition("=")
            if key == "args":
                args.extend(shlex.split(value))
            elif key == "python":
                needed = tuple(map(int, value.split(".")))
                if sys.version_info < needed:
                    pytest.skip(f"the examples of {page.name} need Python {value} or newer")
            else:
                expected[key] = int(value)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    outcomes = result.parseoutcomes()
    if expected:
        result.assert_outcomes(**expected)
    else:
        assert outcomes.get("passed", 0) > 0
        assert set(outcomes) <= {"passed", "warnings", "warning"}, result.stdout.str()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_is_run(page: Path) -> None:
    """A Python example in the docs either runs (``# file:``) or isn't there."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.M | re.S)
    for language, body in blocks:
        if language in ("python", "py"):
            assert body.startswith("# file: "), body.splitlines()[0]


def _table(page: str, heading: str) -> list[list[str]]:
    text = (ROOT / "docs" / page).read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def _code(cell: str) -> str:
    return cell.strip().strip("`")


#: What pytest-asyncio knows too; every other key and keyword breaks a run under it.
PYTEST_ASYNCIO_INI = {
    "asyncio_mode",
    "asyncio_default_fixture_loop_scope",
    "asyncio_default_test_loop_scope",
    "asyncio_debug",
}
PYTEST_ASYNCIO_KEYWORDS = {"loop_scope", "loop_factories"}


@pytest.mark.parametrize(
    ("heading", "known"),
    [
        ("Ini keys", PYTEST_ASYNCIO_INI),
        ("Marker", PYTEST_ASYNCIO_KEYWORDS),
        ("Check settings per test", set()),
    ],
)
def test_awaitest_only_keys_and_keywords_are_marked(heading: str, known: set[str]) -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    header = text.split(f"## {heading}\n", 1)[1].split("\n| ", 1)[1].split("\n", 1)[0]
    assert header.rstrip(" |").endswith("| pytest-asyncio"), heading
    for row in _table("configuration.md", heading):
        expected = "yes" if _code(row[0]) in known else "no: awaitest only"
        assert row[-1] == expected, (heading, row[0])
        assert "awaitest only:" not in " ".join(row[1:-1]), (heading, row[0])


def test_ini_table_matches_the_code() -> None:
    documented = {_code(row[0]): row for row in _table("configuration.md", "Ini keys")}
    assert set(documented) == set(_config._INI)
    for key, (_, default, flag) in _config._INI.items():
        row = documented[key]
        assert _code(row[1]) == (flag or ""), key
        assert _code(row[3]) == (default or "unset"), key


def test_marker_table_matches_the_code() -> None:
    documented = [_code(row[0]) for row in _table("configuration.md", "Marker")]
    assert documented == list(_marker.KEYWORDS)


def test_check_settings_table_matches_the_code() -> None:
    rows = _table("configuration.md", "Check settings per test")
    assert [_code(row[0]) for row in rows] == list(_marker.CHECK_KEYWORDS)
    for row in rows:
        assert _code(row[2].split(";")[0]) == f"asyncio_{_code(row[0])}"


def test_fixture_table_matches_the_plugin(pytester: pytest.Pytester) -> None:
    documented = {_code(row[0]) for row in _table("configuration.md", "Fixtures")}
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    ours: set[str] = set()
    in_ours = False
    for line in result.stdout.lines:
        if line.startswith("-"):
            in_ours = "awaitest" in line
        elif in_ours and re.match(r"^\w+( \[\w+ scope\])?( -- .*)?$", line):
            ours.add(line.split()[0])
    assert documented == ours


def test_api_table_matches_all() -> None:
    documented = {_code(row[0]).split("(")[0] for row in _table("configuration.md", "Python API")}
    public = {f"awaitest.{name}" for name in awaitest.__all__ if name != "__version__"}
    assert public <= documented
    assert documented - public == {"pytest_asyncio_loop_factories"}
