"""Notes in a database: SQLite through aiosqlite, or PostgreSQL through asyncpg.

``await connect(url)`` returns a ``Database`` for ``sqlite:///path`` (``sqlite:///:memory:``)
or ``postgresql://user:pass@host/db``. Both expose the same ``notes`` repository and
explicit transactions (``begin``/``commit``/``rollback``), which is what lets a test suite
share one connection and roll each test back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Protocol

import aiosqlite
import asyncpg

TABLE = "notesapp_notes"


@dataclass(frozen=True)
class StoredNote:
    id: int
    title: str
    body: str


class DuplicateTitleError(Exception):
    pass


class NoteRepository(Protocol):
    async def add(self, title: str, body: str) -> StoredNote: ...
    async def get(self, note_id: int) -> StoredNote | None: ...
    async def list_all(self) -> list[StoredNote]: ...
    async def search(self, term: str) -> list[StoredNote]: ...
    async def delete(self, note_id: int) -> bool: ...
    async def count(self) -> int: ...


class Database(Protocol):
    notes: NoteRepository

    async def create_schema(self, *, temporary: bool = False) -> None: ...
    async def begin(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    async def close(self) -> None: ...


async def connect(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return await SqliteDatabase.connect(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.connect(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


# --- SQLite ------------------------------------------------------------------------------


class SqliteNoteRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def add(self, title: str, body: str) -> StoredNote:
        try:
            cursor = await self._conn.execute(
                f"INSERT INTO {TABLE} (title, body) VALUES (?, ?)", (title, body)
            )
        except sqlite3.IntegrityError:
            raise DuplicateTitleError(title) from None
        assert cursor.lastrowid is not None
        return StoredNote(id=cursor.lastrowid, title=title, body=body)

    async def get(self, note_id: int) -> StoredNote | None:
        cursor = await self._conn.execute(
            f"SELECT id, title, body FROM {TABLE} WHERE id = ?", (note_id,)
        )
        row = await cursor.fetchone()
        return None if row is None else StoredNote(*row)

    async def list_all(self) -> list[StoredNote]:
        cursor = await self._conn.execute(f"SELECT id, title, body FROM {TABLE} ORDER BY id")
        return [StoredNote(*row) for row in await cursor.fetchall()]

    async def search(self, term: str) -> list[StoredNote]:
        cursor = await self._conn.execute(
            f"SELECT id, title, body FROM {TABLE}"
            " WHERE instr(lower(title), lower(?)) > 0 OR instr(lower(body), lower(?)) > 0"
            " ORDER BY id",
            (term, term),
        )
        return [StoredNote(*row) for row in await cursor.fetchall()]

    async def delete(self, note_id: int) -> bool:
        cursor = await self._conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (note_id,))
        return cursor.rowcount == 1

    async def count(self) -> int:
        cursor = await self._conn.execute(f"SELECT count(*) FROM {TABLE}")
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


class SqliteDatabase:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.notes: NoteRepository = SqliteNoteRepository(conn)

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        # isolation_level=None: no implicit transactions, begin() and commit() say when.
        return cls(await aiosqlite.connect(path, isolation_level=None))

    async def create_schema(self, *, temporary: bool = False) -> None:
        await self.conn.execute(
            f"CREATE {'TEMPORARY ' if temporary else ''}TABLE IF NOT EXISTS {TABLE} ("
            " id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, body TEXT NOT NULL)"
        )

    async def begin(self) -> None:
        await self.conn.execute("BEGIN")

    async def commit(self) -> None:
        await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        await self.conn.execute("ROLLBACK")

    async def close(self) -> None:
        await self.conn.close()


# --- PostgreSQL --------------------------------------------------------------------------


class PostgresNoteRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, title: str, body: str) -> StoredNote:
        try:
            # A nested transaction (a savepoint inside an outer one): a failed INSERT must
            # not leave the caller's transaction aborted.
            async with self._conn.transaction():
                note_id = await self._conn.fetchval(
                    f"INSERT INTO {TABLE} (title, body) VALUES ($1, $2) RETURNING id", title, body
                )
        except asyncpg.UniqueViolationError:
            raise DuplicateTitleError(title) from None
        return StoredNote(id=note_id, title=title, body=body)

    async def get(self, note_id: int) -> StoredNote | None:
        row = await self._conn.fetchrow(
            f"SELECT id, title, body FROM {TABLE} WHERE id = $1", note_id
        )
        return None if row is None else StoredNote(*row)

    async def list_all(self) -> list[StoredNote]:
        rows = await self._conn.fetch(f"SELECT id, title, body FROM {TABLE} ORDER BY id")
        return [StoredNote(*row) for row in rows]

    async def search(self, term: str) -> list[StoredNote]:
        rows = await self._conn.fetch(
            f"SELECT id, title, body FROM {TABLE}"
            " WHERE strpos(lower(title), lower($1)) > 0 OR strpos(lower(body), lower($1)) > 0"
            " ORDER BY id",
            term,
        )
        return [StoredNote(*row) for row in rows]

    async def delete(self, note_id: int) -> bool:
        status = await self._conn.execute(f"DELETE FROM {TABLE} WHERE id = $1", note_id)
        return bool(status == "DELETE 1")

    async def count(self) -> int:
        return int(await self._conn.fetchval(f"SELECT count(*) FROM {TABLE}"))


class PostgresDatabase:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.notes: NoteRepository = PostgresNoteRepository(conn)
        self._transaction: asyncpg.transaction.Transaction | None = None

    @classmethod
    async def connect(cls, url: str) -> PostgresDatabase:
        return cls(await asyncpg.connect(url))

    async def create_schema(self, *, temporary: bool = False) -> None:
        # TEMPORARY: the table lives in this connection's own schema and disappears with it.
        await self.conn.execute(
            f"CREATE {'TEMPORARY ' if temporary else ''}TABLE IF NOT EXISTS {TABLE} ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " title TEXT NOT NULL UNIQUE, body TEXT NOT NULL)"
        )

    async def begin(self) -> None:
        self._transaction = self.conn.transaction()
        await self._transaction.start()

    async def commit(self) -> None:
        assert self._transaction is not None, "commit() without begin()"
        await self._transaction.commit()
        self._transaction = None

    async def rollback(self) -> None:
        assert self._transaction is not None, "rollback() without begin()"
        await self._transaction.rollback()
        self._transaction = None

    async def close(self) -> None:
        await self.conn.close()
