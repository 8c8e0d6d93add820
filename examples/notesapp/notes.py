"""Notes on disk: export and import Markdown files with aiofiles, concurrently with gather.

A note file looks like this::

    # Python Basics

    Variables and types.

    Tags: python, basics
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiofiles
import aiofiles.os

if TYPE_CHECKING:
    from pathlib import Path

_TAGS_PREFIX = "Tags: "


@dataclass(frozen=True)
class Note:
    title: str
    body: str
    tags: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """File-name friendly title: ``"Python Basics!"`` -> ``"python-basics"``."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "untitled"


def render_note(note: Note) -> str:
    text = f"# {note.title}\n\n{note.body}\n"
    if note.tags:
        text += f"\n{_TAGS_PREFIX}{', '.join(note.tags)}\n"
    return text


def parse_note(text: str) -> Note:
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("a note starts with a '# Title' line")
    title = lines[0][2:].strip()
    tags: list[str] = []
    if lines[-1].startswith(_TAGS_PREFIX):
        tags = [t.strip() for t in lines[-1].removeprefix(_TAGS_PREFIX).split(",") if t.strip()]
        lines = lines[:-1]
    body = "\n".join(lines[1:]).strip()
    return Note(title=title, body=body, tags=tags)


async def export_note(note: Note, directory: Path) -> Path:
    """Write one note to ``directory/<slug>.md`` and return its path."""
    path = directory / f"{note.slug}.md"
    async with aiofiles.open(path, mode="w", encoding="utf-8") as f:
        await f.write(render_note(note))
    return path


async def async_export_all(notes: list[Note], directory: Path) -> int:
    """Export every note concurrently; return how many files were written."""
    await aiofiles.os.makedirs(directory, exist_ok=True)
    paths = await asyncio.gather(*(export_note(note, directory) for note in notes))
    return len(paths)


async def read_note(path: Path) -> Note:
    async with aiofiles.open(path, encoding="utf-8") as f:
        return parse_note(await f.read())


async def read_notes_from_directory(directory: Path) -> list[Note]:
    """Read every ``*.md`` note in ``directory`` concurrently, sorted by title.

    Raises FileNotFoundError if the directory does not exist.
    """
    names = await aiofiles.os.listdir(directory)
    paths = [directory / name for name in names if name.endswith(".md")]
    notes = await asyncio.gather(*(read_note(path) for path in paths))
    return sorted(notes, key=lambda note: note.title)


async def async_pipeline(source_dir: Path, export_dir: Path) -> int:
    """Read notes from ``source_dir`` and export them to ``export_dir``."""
    notes = await read_notes_from_directory(source_dir)
    return await async_export_all(notes, export_dir)
