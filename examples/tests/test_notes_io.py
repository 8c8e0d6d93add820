"""Seed 000 ("Testing Async Code"): aiofiles, asyncio.gather and async fixtures.

With ``asyncio_mode = auto`` no test here needs a marker; ``notes_directory`` is an async
fixture that writes its files with aiofiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiofiles
import pytest

from notesapp import notes
from notesapp.notes import (
    Note,
    async_export_all,
    async_pipeline,
    parse_note,
    read_notes_from_directory,
    render_note,
)

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE_FILES = {
    "python-basics.md": "# Python Basics\n\nVariables and types.\n\nTags: python\n",
    "async-intro.md": "# Async Intro\n\nCoroutines and await.\n\nTags: python, async\n",
    "cli-tools.md": "# CLI Tools\n\nBuilding with argparse.\n\nTags: python, cli\n",
}


@pytest.fixture
async def notes_directory(tmp_path: Path) -> Path:
    """A directory with three note files, written with aiofiles."""
    notes_dir = tmp_path / "notes"
    notes_dir.mkdir()
    for filename, content in SAMPLE_FILES.items():
        async with aiofiles.open(notes_dir / filename, mode="w") as f:
            await f.write(content)
    return notes_dir


def test_render_and_parse_round_trip() -> None:
    """A plain sync test sits happily beside the async ones."""
    note = Note(title="Round Trip", body="Line one.\n\nLine two.", tags=["a", "b"])
    assert parse_note(render_note(note)) == note


async def test_export_creates_files(tmp_path: Path) -> None:
    exported = [
        Note(title="Test One", body="Body one", tags=["python"]),
        Note(title="Test Two", body="Body two", tags=["async"]),
    ]
    count = await async_export_all(exported, tmp_path)
    assert count == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test-one.md", "test-two.md"]


async def test_export_empty_list(tmp_path: Path) -> None:
    assert await async_export_all([], tmp_path) == 0
    assert list(tmp_path.iterdir()) == []


async def test_export_file_content(tmp_path: Path) -> None:
    await async_export_all(
        [Note(title="Content Check", body="The body text", tags=["test"])], tmp_path
    )
    content = (tmp_path / "content-check.md").read_text()
    assert "# Content Check" in content
    assert "The body text" in content
    assert "Tags: test" in content


async def test_read_notes_from_directory(notes_directory: Path) -> None:
    read = await read_notes_from_directory(notes_directory)
    assert [n.title for n in read] == ["Async Intro", "CLI Tools", "Python Basics"]
    assert read[0] == Note(
        title="Async Intro", body="Coroutines and await.", tags=["python", "async"]
    )


async def test_read_from_empty_directory(tmp_path: Path) -> None:
    assert await read_notes_from_directory(tmp_path) == []


async def test_read_from_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await read_notes_from_directory(tmp_path / "does-not-exist")


async def test_pipeline_reads_and_exports(notes_directory: Path, tmp_path: Path) -> None:
    export_dir = tmp_path / "exports"
    count = await async_pipeline(notes_directory, export_dir)
    assert count == 3
    assert sorted(p.name for p in export_dir.glob("*.md")) == sorted(SAMPLE_FILES)
    # What was exported reads back as the same notes.
    assert await read_notes_from_directory(export_dir) == await read_notes_from_directory(
        notes_directory
    )


async def test_ten_exports_run_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tutorial's "prove they ran concurrently" exercise, without timing anything.

    Instead of asserting on wall time (flaky on a busy CI machine), record when each export
    starts and finishes: run one after the other, every start would be followed by its own
    finish; run concurrently, all ten start before the first one finishes.
    """
    events: list[tuple[str, str]] = []
    real_export_note = notes.export_note

    async def recording_export_note(note: Note, directory: Path) -> Path:
        events.append(("start", note.title))
        path = await real_export_note(note, directory)
        events.append(("end", note.title))
        return path

    monkeypatch.setattr(notes, "export_note", recording_export_note)
    batch = [Note(title=f"Note {i}", body=f"Body {i}") for i in range(10)]

    assert await async_export_all(batch, tmp_path) == 10

    assert len(events) == 20
    assert [kind for kind, _ in events[:10]] == ["start"] * 10
    assert {title for _, title in events[10:]} == {note.title for note in batch}
    assert len(list(tmp_path.glob("*.md"))) == 10
