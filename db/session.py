"""Engine and session factory. One `Database` per process, shared by handlers, dispatcher and CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from time import monotonic
from typing import Any

from sqlalchemy import Result, Select, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

Params = dict[str, Any] | list[dict[str, Any]]  # one row of parameters, or many (executemany)
RELAXED = "relaxed_commit"  # execution option: this transaction's commit need not reach the disk


class Database:
    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: an error message must never carry the values of a query (names, phone numbers).
        kwargs: dict[str, object] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10)
            if schema:
                # Tests give each database fixture its own schema, so parallel runs never collide.
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "postgresql":
            # A connection that sat idle is pinged before use (a server restart or an idle timeout may have
            # closed it); one in steady use is not: SQLAlchemy's pool_pre_ping would cost a round trip at every
            # transaction, a third of a short one. A connection lost while busy fails one operation and the
            # pool is renewed (SQLAlchemy's disconnect handling); the outbox retries, a person taps again.
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
            event.listen(self.engine.sync_engine, "checkin", _checked_in)
        if self.dialect == "sqlite":
            inline = parsed.get_driver_name() == "inline"
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas_inline if inline else _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        # A Session class of this database's own, so listeners (bot/services/identities.py) see only its sessions.
        self.session_class: type[Session] = type("DatabaseSession", (Session,), {})
        # Caches of this database's rows kept in memory (bot/services/memory.py), reachable from any session as
        # `session.info[name]`, so services find them without being handed them.
        self.memory: dict[str, Any] = {}
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=self.session_class, info=self.memory
        )

    @property
    def supports_skip_locked(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception.

        `durable=False` is for writes whose loss on a power cut costs nothing (a step of an unfinished
        draft): the commit does not wait for the disk. It survives the bot's own crash or a kill, is never
        corrupted, and a later durable commit flushes it too (SQLite WAL with synchronous=NORMAL; PostgreSQL
        synchronous_commit off). Saves the disk flush, the larger part of such a step's time."""
        async with self.sessions.begin() as session:
            if not durable:
                if self.dialect == "sqlite":
                    await session.connection(execution_options={RELAXED: True})  # seen by _sqlite_begin
                elif self.dialect == "postgresql":
                    # On the connection, not session.execute: raw SQL through the session makes every cache
                    # in memory forget everything (bot/services/memory.py).
                    connection = await session.connection()
                    await connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield session

    @asynccontextmanager
    async def lazy_transaction(self) -> AsyncIterator[Callable[[], Awaitable[AsyncSession]]]:
        """Like `transaction`, but the transaction begins only when the yielded function is first awaited
        (a step that finds everything in memory makes none); committed on success, rolled back on error."""
        opened: list[Any] = []

        async def session() -> AsyncSession:
            if not opened:
                context = self.sessions.begin()
                opened.append(context)
                opened.append(await context.__aenter__())
            return opened[1]  # type: ignore[no-any-return]

        try:
            yield session
        except BaseException as exc:
            if opened:
                await opened[0].__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            if opened:
                await opened[0].__aexit__(None, None, None)

    async def dispose(self) -> None:
        await self.engine.dispose()


def skip_locked(session: AsyncSession, query: Select[Any], **of: Any) -> Select[Any]:
    """Rows a periodic job claims: on PostgreSQL two processes never take the same ones (FOR UPDATE SKIP
    LOCKED); SQLite has one writer at a time anyway (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, **of)
    return query


@cache
def upsert(dialect: str, table: Table, index: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (index) DO UPDATE of every other column, built once per table: run it with
    `execute_core` and a dict of every column. For the writes taken at each step of a conversation, where
    putting the construct together again costs more than running it."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in index}
    return stmt.on_conflict_do_update(index_elements=list(index), set_=updates)


async def execute_core(session: AsyncSession, statement: Any, params: Params) -> Result[Any]:
    """A Core statement on the session's connection and transaction, without the ORM's execution layer:
    a third of a small write's time. No ORM events run (bot/services/memory.py does not see it), so only
    for writes to tables no cache watches, or whose caller keeps its own memory right (as with the OWN
    option). Pending ORM changes are not flushed first: see `fetch_core`."""
    return await (await session.connection()).execute(statement, params)


async def fetch_core(session: AsyncSession, statement: Any, params: Params) -> Result[Any]:
    """A Core read on the session's connection and transaction, without the ORM's execution layer: rows as
    named tuples, for reads that build their own view. Pending ORM changes are flushed first, as the ORM's
    own autoflush would, so the read sees what this transaction wrote."""
    await session.flush()
    return await execute_core(session, statement, params)


def insert_for(session: AsyncSession) -> Any:
    """The INSERT construct with ON CONFLICT for this session's database (SQLite and PostgreSQL share the
    spelling, through different dialect classes)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


IDLE_PING_SECONDS = 10.0


def _checked_in(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    record.info["idle_since"] = monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    since = record.info.get("idle_since")
    if since is None or monotonic() - since < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool throws this connection away and checks out another (SQLAlchemy retries up to three times).
        raise DisconnectionError() from exc


def _sqlite_pragmas(dbapi_connection, _record, busy_ms: int = 5000) -> None:  # type: ignore[no-untyped-def]
    # Foreign keys are off by default in SQLite; WAL lets the console and the dispatcher read while writing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()
    # Python's sqlite3 opens a transaction only at the first write, so reads before it are not isolated.
    # Take over: no implicit transactions, and an explicit BEGIN (below) for each SQLAlchemy transaction.
    dbapi_connection.isolation_level = None


def _sqlite_pragmas_inline(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    # No busy wait inside SQLite: it would stop the event loop; db/sqlite_inline.py retries asynchronously.
    _sqlite_pragmas(dbapi_connection, record, busy_ms=0)


def _sqlite_begin(connection) -> None:  # type: ignore[no-untyped-def]
    # The disk flush at commit (synchronous=FULL, SQLite's default) unless the transaction asked not to wait
    # for it (Database.transaction(durable=False)). SQLite refuses the change inside a transaction, so each
    # transaction sets what it needs before its BEGIN; the setting is remembered per pooled connection.
    relaxed = bool(connection.get_execution_options().get(RELAXED))
    if connection.info.get(RELAXED, False) != relaxed:
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL" if relaxed else "PRAGMA synchronous=FULL")
        connection.info[RELAXED] = relaxed
    # IMMEDIATE takes the write lock up front: a read-then-write (claiming outbox rows, checking a code
    # then using it) cannot interleave with another writer, and never fails half-way with SQLITE_BUSY.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
