"""Browsing tips without a database round trip: which tips each household has seen, kept in memory, and the
new views written in batches.

Each press of "🔁 Another" used to read the household's history and the person's 👎 marks and write one row,
a transaction per press. A browsed tip is not important data: if the process dies before a batch is written,
a tip may be shown once more. So the history is read once per household and kept (forgotten when another
writer changes it: the subscription tick, feedback, a deleted household), and views are written together,
when `BATCH` are waiting or at the latest every `FLUSH_SECONDS` (bot/app.py), before the tips tick, and at
shutdown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, cast, func, insert, literal, null, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import library, tips
from bot.services.memory import Forgetful, Shelf
from db.models import Household, TipDelivery, TipFeedback, User
from db.session import Database, fetch_core
from db.types import UTCDateTime

log = logging.getLogger(__name__)

BATCH = 200
FLUSH_SECONDS = 1.0
SIZE = 20_000  # households whose history is kept
TTL_SECONDS = 600.0
OWN = "tip_views"  # execution option marking this module's own writes


_TD, _TF = TipDelivery.__table__.c, TipFeedback.__table__.c  # type: ignore[attr-defined]
_SEEN = (
    select(literal("seen"), _TD.tip_id, func.max(_TD.sent_at))
    .where(_TD.household_id == bindparam("household_id"))
    .group_by(_TD.tip_id)
)
_DISLIKED = select(literal("disliked"), _TF.tip_id, cast(null(), UTCDateTime())).where(
    _TF.user_id == bindparam("user_id"), _TF.helpful.is_(False)
)
_BOTH = _SEEN.union_all(_DISLIKED)  # the first select gives the columns their types (the time of a view)


class TipViews(Forgetful):
    # Not app_user or household: a deleted household's or person's history is never asked for again (ids are
    # not reused), and their views still waiting are dropped at the flush.
    WATCHED = frozenset(t.__tablename__ for t in (TipDelivery, TipFeedback))
    OWN = OWN

    def __init__(
        self, db: Database, *, ttl: float = TTL_SECONDS, size: int = SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(db, ttl=ttl, clock=clock)
        self.db = db
        self._seen: Shelf[int, dict[str, datetime]] = self.shelf(size)  # by household id
        self._disliked: Shelf[int, frozenset[str]] = self.shelf(size)  # by user id
        self._pending: list[dict[str, Any]] = []

    async def next_tip(
        self,
        session: Callable[[], Awaitable[AsyncSession]],
        who: tips.Reader,
        *,
        topic: str | None,
        now: datetime,
        user_id: int,
    ) -> library.Tip | None:
        """tips.next_tip for browsing: the same choice, from memory, the view written with the next batch.
        `session` is awaited only for what is not in memory (Database.lazy_transaction)."""
        last_seen, disliked = await self._history(session, who.household_id, user_id)
        tip = tips.choose(tips.fitting(library.library(), who, topic, out_of_season=True), set(disliked), last_seen)
        if tip is None or who.household_id is None:
            return tip
        last_seen[tip.id] = now
        self._pending.append(
            {"household_id": who.household_id, "user_id": user_id, "tip_id": tip.id, "via": "browse", "sent_at": now}
        )
        return tip

    async def flush_if_full(self) -> int:
        """Write the waiting views now if a batch is full. Called once the caller's own transaction is over:
        on SQLite a second transaction inside it would wait for the first one's lock."""
        return await self.flush() if len(self._pending) >= BATCH else 0

    async def flush(self) -> int:
        """Write the waiting views in one transaction; returns how many were written."""
        rows, self._pending = self._pending, []
        if not rows:
            return 0
        try:
            async with self.db.transaction() as session:
                await session.execute(insert(TipDelivery).execution_options(**{OWN: True}), rows)
            return len(rows)
        except IntegrityError:
            # A household or person deleted since their view: write the others one by one.
            written = 0
            for row in rows:
                try:
                    async with self.db.transaction() as session:
                        await session.execute(insert(TipDelivery).execution_options(**{OWN: True}), [row])
                    written += 1
                except IntegrityError:
                    pass
            log.info("tip views: %d of %d written (the rest belonged to deleted households)", written, len(rows))
            return written

    # --- reading -----------------------------------------------------------------------------------------
    async def _history(
        self, session: Callable[[], Awaitable[AsyncSession]], household_id: int | None, user_id: int
    ) -> tuple[dict[str, datetime], frozenset[str]]:
        """The household's views (tip -> last shown) and the person's 👎 marks: from memory, or what is missing
        in one Core query."""
        seen = self._seen.get(household_id) if household_id is not None else {}
        disliked = self._disliked.get(user_id)
        if seen is not None and disliked is not None:
            return seen, disliked
        generation = self.generation
        query = _BOTH if seen is None and disliked is None else _SEEN if seen is None else _DISLIKED
        rows = (await fetch_core(await session(), query, {"household_id": household_id, "user_id": user_id})).all()
        if seen is None:
            assert household_id is not None
            seen = {tip_id: at for what, tip_id, at in rows if what == "seen"}
            for row in self._pending:  # views not written yet
                if row["household_id"] == household_id:
                    seen[row["tip_id"]] = row["sent_at"]
            if generation == self.generation:
                self._seen.put(household_id, seen)
        if disliked is None:
            disliked = frozenset(tip_id for what, tip_id, _at in rows if what == "disliked")
            if generation == self.generation:
                self._disliked.put(user_id, disliked)
        return seen, disliked

    # --- forgetting --------------------------------------------------------------------------------------
    def keys_of(self, obj: object) -> set[Hashable] | object:
        if isinstance(obj, TipDelivery):
            return {("household", obj.household_id)}
        if isinstance(obj, TipFeedback):
            return {("user", obj.user_id)}
        if isinstance(obj, Household):  # deleted: its views go by cascade
            return {("household", obj.id)}
        if isinstance(obj, User):
            return {("user", obj.id)}
        return set()

    def forget(self, keys: set[Hashable]) -> None:
        for kind, id_ in keys:  # type: ignore[misc]
            if kind == "household":
                self._seen.pop(id_)
            else:
                self._disliked.pop(id_)

    def forget_all(self) -> None:
        self._seen.clear()
        self._disliked.clear()
