"""SQLite for the async engine without a thread hop per call: `sqlite+inline://` (registered in db/session.py).

SQLAlchemy's aiosqlite dialect runs every call (cursor, execute, fetch, commit) on a worker thread and waits
for it through the event loop: about 0.1 ms a hop and four hops a statement, measured to triple the cost of a
small query (0.57 ms against 0.18 ms for the same ORM select; bench/interactive.py). A query on a local SQLite
file takes microseconds, so here the calls run on the loop's thread, behind the same adapter classes
SQLAlchemy uses for aiosqlite (nothing about SQL, types or pooling changes).

The one call that may wait long is taking the write lock while another connection holds it. SQLite's own
busy handler would sleep inside the call and stop the whole loop, including the coroutine holding the lock
(another pooled connection of this process): so the busy timeout is 0 here and a busy lock is retried with
`asyncio.sleep`, for up to `BUSY_SECONDS`, the same budget the threaded driver's `busy_timeout` gives.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)

BUSY_SECONDS = 5.0
T = TypeVar("T")


def _busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def _patiently(call: Callable[[], T]) -> T:
    """Run `call`; while the database is locked by another connection, yield to the loop and try again."""
    deadline = time.monotonic() + BUSY_SECONDS
    pause = 0.0005
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _busy(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


class _Cursor:
    """The awaitable cursor SQLAlchemy's adapter expects, over a plain sqlite3 cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> _Cursor:
        if parameters is None:
            await _patiently(lambda: self._cursor.execute(sql))
        else:
            await _patiently(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> _Cursor:
        await _patiently(lambda: self._cursor.executemany(sql, parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Connection:
    """The parts of aiosqlite.Connection that SQLAlchemy's aiosqlite adapter uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection

    @property
    def _connection(self) -> sqlite3.Connection | None:  # the adapter checks it before commit and rollback
        return self._conn

    def _raw(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> _Cursor:
        return _Cursor(self._raw().cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._raw().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._raw().isolation_level = value

    async def commit(self) -> None:
        await _patiently(self._raw().commit)

    async def rollback(self) -> None:
        self._raw().rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._raw().create_function(*args, **kw)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _InlineAdapter(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level  # type: ignore[no-any-return]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # aiosqlite's version posts to its worker thread; there is none here.
        self._connection.isolation_level = value


class _InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _InlineAdapter:
        kw.pop("async_creator_fn", None)
        kw["check_same_thread"] = False  # the pool may close a connection from the event loop's thread pool
        kw["timeout"] = 0  # busy locks are retried in _patiently, without blocking the loop
        return _InlineAdapter(self, _Connection(sqlite3.connect(*arg, **kw)))


class SQLiteDialect_inline(SQLiteDialect_aiosqlite):
    driver = "inline"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _InlineDBAPI:  # type: ignore[override]
        return _InlineDBAPI(aiosqlite, sqlite3)


dialect = SQLiteDialect_inline
