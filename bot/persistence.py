"""Conversation states in the database, so a restart mid-flow resumes where the person was.

Only ConversationHandler states are stored here; the answers given so far live in the `draft` table,
written by the services as each step is taken. user_data, chat_data, bot_data and callback_data are
not persisted (PTB's own docs suggest keeping domain data in your own tables).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import BasePersistence, PersistenceInput

from db.models import ConversationState
from db.session import Database, execute_core, upsert
from db.types import utcnow

_NOTHING = object()


class SqlConversationPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(self, db: Database, update_interval: float = 1.0) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self.db = db
        # What the database holds, as last read or written by this process (one process per bot token).
        self._written: dict[tuple[str, str], object] = {}
        self._names: set[str] = set()

    async def get_conversations(self, name: str) -> dict[tuple[int | str, ...], object]:
        self._names.add(name)
        async with self.db.sessions() as session:
            rows = (await session.scalars(select(ConversationState).where(ConversationState.name == name))).all()
        self._written.update(((name, row.key), row.state) for row in rows)
        return {tuple(json.loads(row.key)): row.state for row in rows}

    async def update_conversation(self, name: str, key: tuple[int | str, ...], new_state: object | None) -> None:
        encoded = json.dumps(list(key))
        if self._written.get((name, encoded), _NOTHING) == new_state:
            return  # already stored or deleted (unchanged, or written with the step's draft): no transaction
        async with self.db.transaction(durable=False) as session:  # a step's state, like its draft
            await self.write(session, name, key, new_state)
        self.written(name, key, new_state)

    def persists(self, name: str) -> bool:
        """Whether `name` is a persistent ConversationHandler's name (it asked for its states at start-up)."""
        return name in self._names

    async def write(self, session: AsyncSession, name: str, key: tuple[int | str, ...], state: object | None) -> None:
        """Store a state inside the caller's transaction (handlers.common.remember, with the draft); call
        `written` once it committed."""
        encoded = json.dumps(list(key))
        if state is None:
            await session.execute(
                delete(ConversationState).where(ConversationState.name == name, ConversationState.key == encoded)
            )
            return
        # One statement whether the row is there or not (no read first).
        statement = upsert(session.get_bind().dialect.name, ConversationState.__table__, ("name", "key"))
        await execute_core(session, statement, {"name": name, "key": encoded, "state": state, "updated_at": utcnow()})

    def written(self, name: str, key: tuple[int | str, ...], state: object | None) -> None:
        # None is kept too: known deleted, so an END after it is not deleted again.
        self._written[(name, json.dumps(list(key)))] = state

    # Nothing below is stored: the bot keeps its data in its own tables.
    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        return None

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        return None

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def update_callback_data(self, data: Any) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        return None

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def flush(self) -> None:
        return None
