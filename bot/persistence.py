"""Conversation states in the database, so a restart mid-flow resumes where the person was.

Only ConversationHandler states are stored here; the answers given so far live in the `draft` table,
written by the services as each step is taken. user_data, chat_data, bot_data and callback_data are
not persisted (PTB's own docs suggest keeping domain data in your own tables).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from telegram.ext import BasePersistence, PersistenceInput

from db.models import ConversationState
from db.session import Database


class SqlConversationPersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    def __init__(self, db: Database, update_interval: float = 1.0) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self.db = db

    async def get_conversations(self, name: str) -> dict[tuple[int | str, ...], object]:
        async with self.db.sessions() as session:
            rows = (await session.scalars(select(ConversationState).where(ConversationState.name == name))).all()
        return {tuple(json.loads(row.key)): row.state for row in rows}

    async def update_conversation(self, name: str, key: tuple[int | str, ...], new_state: object | None) -> None:
        encoded = json.dumps(list(key))
        async with self.db.transaction() as session:
            row = await session.get(ConversationState, (name, encoded))
            if new_state is None:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(ConversationState(name=name, key=encoded, state=new_state))
            else:
                row.state = new_state

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
