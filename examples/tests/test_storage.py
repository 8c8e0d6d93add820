"""A real database: a session-scoped connection, each test in a rolled-back transaction.

Every test runs once per backend, ``[sqlite]`` and ``[postgresql]`` (see conftest.py).
The connection was opened on the session-scoped event loop, so the tests run there too:
``loop_scope="session"`` below. (Without it they would get a fresh loop each, and the
connection's futures would belong to another loop.)
"""

from __future__ import annotations

import asyncio

import pytest

from notesapp.storage import DuplicateTitleError, NoteRepository

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_add_and_get(notes_repo: NoteRepository) -> None:
    note = await notes_repo.add("Shopping", "milk, eggs")
    assert await notes_repo.get(note.id) == note
    assert await notes_repo.get(note.id + 1000) is None


async def test_every_test_starts_with_an_empty_table(notes_repo: NoteRepository) -> None:
    """The other tests' rows were rolled back, whatever order the tests ran in."""
    assert await notes_repo.count() == 0
    await notes_repo.add("Left behind?", "no: rolled back at teardown")
    assert await notes_repo.count() == 1


async def test_list_all_in_insertion_order(notes_repo: NoteRepository) -> None:
    titles = ["first", "second", "third"]
    for title in titles:
        await notes_repo.add(title, f"body of {title}")
    assert [n.title for n in await notes_repo.list_all()] == titles


async def test_search_matches_title_or_body_case_insensitively(
    notes_repo: NoteRepository,
) -> None:
    await notes_repo.add("Asyncio tips", "use gather")
    await notes_repo.add("Groceries", "bread; ASYNC cookbook")
    await notes_repo.add("Trio", "nurseries")
    found = await notes_repo.search("async")
    assert [n.title for n in found] == ["Asyncio tips", "Groceries"]
    assert await notes_repo.search("%") == []  # no LIKE wildcards


async def test_duplicate_title_is_rejected_and_the_transaction_goes_on(
    notes_repo: NoteRepository,
) -> None:
    await notes_repo.add("Unique", "one")
    with pytest.raises(DuplicateTitleError):
        await notes_repo.add("Unique", "two")
    # The failed INSERT did not poison the test's transaction.
    await notes_repo.add("Another", "three")
    assert await notes_repo.count() == 2


async def test_delete(notes_repo: NoteRepository) -> None:
    note = await notes_repo.add("Temporary", "delete me")
    assert await notes_repo.delete(note.id) is True
    assert await notes_repo.delete(note.id) is False
    assert await notes_repo.get(note.id) is None


async def test_runs_on_the_loop_the_connection_was_made_on(
    notes_repo: NoteRepository, session_loop: asyncio.AbstractEventLoop
) -> None:
    """One loop for the session fixtures and the tests: the point of ``loop_scope="session"``.

    (aiosqlite would happen to work from another loop, asyncpg would not: this checks it.)
    """
    assert asyncio.get_running_loop() is session_loop
    assert not session_loop.is_closed()
