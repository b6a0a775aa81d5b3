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

Within this process, transactions on one database file also take turns on an `asyncio.Lock` before their
`BEGIN`: with many updates handled at once, a transaction starts the moment the previous one ends, in the
order they asked, instead of each polling with growing pauses. Other processes (the admin command, a second
bot) are still waited for by polling.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import weakref
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


# Per event loop (tests run several), per database file: whose turn it is to write.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


class _Cursor:
    """The awaitable cursor SQLAlchemy's adapter expects, over a plain sqlite3 cursor."""

    __slots__ = ("_cursor", "_owner")

    def __init__(self, cursor: sqlite3.Cursor, owner: _Connection) -> None:
        self._cursor = cursor
        self._owner = owner

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
        if sql.startswith("BEGIN"):
            await self._owner.take_turn()
            try:
                await _patiently(lambda: self._cursor.execute(sql))
            except BaseException:
                self._owner.give_turn()
                raise
        elif parameters is None:
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

    def __init__(self, connection: sqlite3.Connection, path: str | None) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._path = path  # None for an in-memory database: nobody else can write to it
        self._turn: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None  # held from BEGIN to its end

    async def take_turn(self) -> None:
        if self._path is None or self._turn is not None:
            return
        loop = asyncio.get_running_loop()
        lock = _turns.setdefault(loop, {}).setdefault(self._path, asyncio.Lock())
        try:
            if lock.locked():
                await asyncio.wait_for(lock.acquire(), BUSY_SECONDS)
            else:
                await lock.acquire()  # free: taken at once, without wait_for's extra task
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's other writers)") from None
        self._turn = (loop, lock)

    def give_turn(self) -> None:
        if self._turn is None:
            return
        loop, lock = self._turn
        self._turn = None
        if loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            lock.release()
        else:  # the pool may close a connection from another thread
            loop.call_soon_threadsafe(lock.release)

    @property
    def _connection(self) -> sqlite3.Connection | None:  # the adapter checks it before commit and rollback
        return self._conn

    def _raw(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> _Cursor:
        return _Cursor(self._raw().cursor(), self)

    @property
    def isolation_level(self) -> str | None:
        return self._raw().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._raw().isolation_level = value

    async def commit(self) -> None:
        await _patiently(self._raw().commit)
        self.give_turn()  # after a failed commit the transaction is still open: the rollback gives it

    async def rollback(self) -> None:
        try:
            self._raw().rollback()
        finally:
            self.give_turn()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._raw().create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.give_turn()


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
        database = str(kw.get("database", arg[0] if arg else ""))
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        path = None if memory else os.path.realpath(database)
        return _InlineAdapter(self, _Connection(sqlite3.connect(*arg, **kw), path))


class SQLiteDialect_inline(SQLiteDialect_aiosqlite):
    driver = "inline"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _InlineDBAPI:  # type: ignore[override]
        return _InlineDBAPI(aiosqlite, sqlite3)


dialect = SQLiteDialect_inline
