"""Database fixtures: one connection per backend for the whole session, one transaction per test.

Opening a connection (and creating the schema) once is the "expensive setup" the tutorials
share with ``loop_scope="session"``: the connection is made on the session's event loop,
so every test that uses it must run on that loop too (see ``pytestmark`` in
test_storage.py). Each test then runs inside a transaction that is rolled back at
teardown, so tests never see each other's rows.

``database_url`` is parametrized: ``sqlite`` always runs (an in-memory database through
aiosqlite); ``postgresql`` runs through asyncpg when DATABASE_URL is set and is skipped
otherwise, with the command that would run it.
"""

from __future__ import annotations

import asyncio
import os
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from notesapp.storage import Database, NoteRepository, connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "sqlite:///:memory:"
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip(
            "DATABASE_URL is not set; to run these on a throwaway local PostgreSQL server: "
            ".ci/with-postgresql pytest examples"
        )
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    """The loop that session-scoped async fixtures run on."""
    return asyncio.get_running_loop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await connect(database_url)
    # A TEMPORARY table belongs to this connection only and is dropped when it closes,
    # so pointing DATABASE_URL at a database that has data in it leaves that data alone.
    await db.create_schema(temporary=True)
    yield db
    await db.close()


@pytest_asyncio.fixture(loop_scope="session")
async def notes_repo(database: Database) -> AsyncIterator[NoteRepository]:
    """The notes repository, inside a transaction that is rolled back after the test."""
    await database.begin()
    yield database.notes
    await database.rollback()


def _pytest_asyncio_installed() -> bool:
    try:
        version("pytest-asyncio")
    except PackageNotFoundError:
        return False
    return True


# Examples of features only awaitest has (the checks, virtual time): when pytest-asyncio runs
# this suite instead, they are not collected (their markers, e.g. timeout=, are awaitest's).
collect_ignore = (
    ["test_checks_examples.py", "test_virtual_clock_examples.py"]
    if _pytest_asyncio_installed()
    else []
)
