"""Every relative link in the README and the docs pages leads somewhere.

A link's file must exist inside the repository, and a ``#anchor`` on a Markdown page must be the
anchor GitHub gives one of that page's headings: the heading's text in lower case, without
punctuation or symbols (``-`` and ``_`` stay), each space a ``-``, and ``-1``, ``-2``... appended to
repeats. The pages the README and docs link to (examples/, benchmarks/) are checked as well.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)", re.M)
_HTML_TARGET = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.I)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)
_HTML_ID = re.compile(r"<a\s[^>]*?(?:id|name)=\"([^\"]+)\"", re.I)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:|^//", re.I)
_LINE_ANCHOR = re.compile(r"^L\d+(-L\d+)?$")


def _targets(page: Path) -> list[tuple[int, str]]:
    """(line, target) for every link and image on a page, in page order."""
    text = page.read_text()
    outside_code = _FENCE.sub(lambda m: "\n" * m[0].count("\n"), text)
    outside_code = _CODE_SPAN.sub(lambda m: "\n" * m[0].count("\n"), outside_code)
    found = []
    for pattern in (_INLINE_LINK, _REFERENCE, _HTML_TARGET):
        for match in pattern.finditer(outside_code):
            found.append((outside_code.count("\n", 0, match.start(1)) + 1, match[1]))
    return sorted(found)


def github_anchor(heading: str) -> str:
    """The ``id`` GitHub gives a heading with this Markdown text (before repeats are numbered)."""
    pieces = _CODE_SPAN.split(heading)  # prose, backticks, code, prose, backticks, code, ...
    text = "".join(
        piece if index % 3 == 2 else _rendered(piece)
        for index, piece in enumerate(pieces)
        if index % 3 != 1
    )
    return "".join(char for char in text.strip().lower() if _kept(char)).replace(" ", "-")


def _rendered(prose: str) -> str:
    """Markdown prose as text: no HTML tags, link targets or emphasis markers."""
    prose = re.sub(r"<[^>]+>", "", prose)
    prose = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", prose)
    return re.sub(r"[*~]+|(?<!\w)_+|_+(?!\w)", "", prose)


def _kept(char: str) -> bool:
    """GitHub keeps letters, marks, digits, connector punctuation (``_``), ``-`` and spaces."""
    category = unicodedata.category(char)
    return char in "- " or category[0] in "LM" or category in ("Nd", "Nl", "Pc")


def anchors(page: Path) -> set[str]:
    """Every anchor a link can name on this page: its headings' and its HTML ids."""
    text = page.read_text()
    found: set[str] = set(_HTML_ID.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken(page: Path, target: str) -> str | None:
    """Why a relative link from ``page`` leads nowhere, or None if it resolves."""
    path_part, _, anchor = target.partition("#")
    path = (page.parent / unquote(path_part)).resolve() if path_part else page
    if not path.is_relative_to(ROOT):
        return f"{path_part} is outside the repository"
    if not path.exists():
        return f"{path.relative_to(ROOT)} does not exist"
    if not anchor:
        return None
    if path.suffix == ".md":
        if unquote(anchor) not in anchors(path):
            known = ", ".join(sorted(anchors(path)))
            return (
                f"{path.relative_to(ROOT)} has no heading with anchor #{anchor} (it has: {known})"
            )
        return None
    if path.is_file() and _LINE_ANCHOR.match(anchor):
        return None
    return f"#{anchor} names nothing in {path.relative_to(ROOT)} (not a Markdown page)"


def _relative(target: str) -> bool:
    return not _SCHEME.match(target)


def _pages() -> list[Path]:
    """The README, the docs pages, and the Markdown pages they link to, transitively."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for _, target in _targets(page):
            path = (page.parent / unquote(target.partition("#")[0])).resolve()
            markdown = _relative(target) and path.suffix == ".md" and path.is_file()
            if markdown and path.is_relative_to(ROOT) and path not in pages:
                pages.append(path)
    return pages


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    problems = [
        f"{page.relative_to(ROOT)}:{line}: ({target}) {reason}"
        for line, target in _targets(page)
        if _relative(target) and (reason := broken(page, target)) is not None
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Getting started", "getting-started"),
        (
            "1. A test moves to the loop of the async fixtures it uses",
            "1-a-test-moves-to-the-loop-of-the-async-fixtures-it-uses",
        ),
        (
            "A user-defined `event_loop` fixture chooses the loop",
            "a-user-defined-event_loop-fixture-chooses-the-loop",
        ),
        (
            "Deprecation warnings are `AwaitestDeprecationWarning`",
            "deprecation-warnings-are-awaitestdeprecationwarning",
        ),
        ("N = 2,000", "n--2000"),
        ("Mistakes, and what they say", "mistakes-and-what-they-say"),
        ("Tests & fixtures: **what** _runs_", "tests--fixtures-what-runs"),
        ("A `__init__.py` and [a link](other.md#x)", "a-__init__py-and-a-link"),
        ("Python 3.11\u20133.13", "python-311313"),  # an en dash,
    ],
)
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_repeated_headings_are_numbered(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Usage\n\n```sh\n# Usage\n```\n\n## Usage\n\n### Usage\n")
    assert anchors(page) == {"usage", "usage-1", "usage-2"}


def test_a_broken_link_is_reported_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other page\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#other-page) [self](#page) `[code](nowhere.md)`\n"
        "[no file](missing.md)\n[no heading](other.md#usage)\n[web](https://example.com/x)\n"
        "```md\n[in a block](nowhere.md)\n```\n[outside](../elsewhere.md)\n"
    )
    reasons = [(line, broken(page, target)) for line, target in _targets(page) if _relative(target)]
    assert reasons == [
        (3, None),
        (3, None),
        (4, "missing.md does not exist"),
        (5, "other.md has no heading with anchor #usage (it has: other-page)"),
        (10, "../elsewhere.md is outside the repository"),
    ]


#: Notes that live beside the repository, not in it: users who read the docs don't have them.
_OUTSIDE = ("../shared", "shared/", "DESIGN.md")


def test_nothing_points_to_notes_outside_the_repository() -> None:
    texts = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")]
    texts += [*(ROOT / "src").rglob("*.py"), ROOT / "pyproject.toml"]
    found = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in texts
        for needle in _OUTSIDE
        if needle in path.read_text()
    ]
    assert found == []
