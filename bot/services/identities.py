"""Who is behind a Telegram id, remembered between updates, so that most updates need no query to find out.

Finding the person (the user row, their households, their posts) took a transaction and four queries on every
update: a third of the time of a button press (bench/interactive.py). Here it is kept in memory, per process
(one process per bot token), and forgotten as soon as anything it was read from changes:

- every flush of a User, Membership, CaseworkerPost, Child or Household through this database's sessions
  forgets the people (and households) concerned, once at the flush and again at the commit, so a reader that
  started in between cannot put back what it read before the change;
- any bulk INSERT, UPDATE or DELETE on those tables, or raw SQL, through a session forgets everyone;
- an entry is only ever stored if nothing was forgotten while it was being read (a generation count);
- entries older than `ttl` seconds are read again, for changes made by another process (the admin command).

The same goes for the age bands of a household's children (tips fit the children's ages).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import update

from bot.services.memory import ALL, UNCACHED, Forgetful, Shelf
from bot.services.people import SEEN_STEP, Person
from db.models import CaseworkerPost, Child, Household, Membership, User
from db.session import Database

TTL_SECONDS = 60.0
SIZE = 50_000  # people remembered; the least recently seen are forgotten first


@dataclass(frozen=True)
class Family:
    """What tips need of a household: its children's birth years and months, and each member's kind."""

    births: tuple[tuple[int, int | None], ...]
    kinds: dict[int, str]  # user id -> guardian | parent


class Identities(Forgetful):
    WATCHED = frozenset(t.__tablename__ for t in (User, Membership, CaseworkerPost, Child, Household))

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = TTL_SECONDS,
        size: int = SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(db, ttl=ttl, clock=clock)
        self._telegram_of: dict[int, int] = {}  # user id -> telegram id
        self._people: Shelf[int, Person] = self.shelf(size, lambda _t, p: self._telegram_of.pop(p.id, None))
        self._families: Shelf[int, Family] = self.shelf(size)  # by household id
        self._seen: dict[int, datetime] = {}  # user id -> sign of life not written yet
        self.hits = self.misses = 0

    # --- reading -----------------------------------------------------------------------------------------
    def person(self, telegram_id: int, *, chat_id: int, now: datetime) -> Person | None:
        """The remembered person, when nothing about them would be written on this update but the sign of
        life (recorded with `seen`)."""
        person = self._people.get(telegram_id)
        # Not known, too old, or a new chat id (get_or_create has that to write).
        if person is None or person.chat_id != chat_id:
            self.misses += 1
            return None
        self.hits += 1
        return self.seen(person, now)

    def seen(self, person: Person, now: datetime) -> Person:
        """Record a sign of life, to the hour (people.SEEN_STEP), to be written with the next `flush_seen`."""
        if person.last_seen_at is not None and now - person.last_seen_at < SEEN_STEP:
            return person
        self._seen[person.id] = now
        person = replace(person, last_seen_at=now)
        if self._people.get(person.telegram_id) is not None:
            self._people.put(person.telegram_id, person, keep_age=True)
        return person

    async def flush_seen(self, db: Database) -> int:
        """Write the signs of life waiting (one statement); returns how many people."""
        waiting, self._seen = self._seen, {}
        if not waiting:
            return 0
        rows = [{"id": user_id, "last_seen_at": at} for user_id, at in waiting.items()]
        async with db.transaction() as session:
            # Deleted people's rows are simply not there: an UPDATE by primary key skips them.
            # Only last_seen_at, which this cache keeps up to date itself: nothing needs forgetting.
            await session.execute(update(User).execution_options(**{UNCACHED: True}), rows)
        return len(rows)

    def remember(self, person: Person, generation: int) -> None:
        """Keep `person`, read while `generation` was current, unless something changed since."""
        if generation != self.generation:
            return
        self._people.put(person.telegram_id, replace(person, is_new=False))
        self._telegram_of[person.id] = person.telegram_id

    def family(self, household_id: int) -> Family | None:
        return self._families.get(household_id)

    def remember_family(
        self,
        household_id: int,
        births: tuple[tuple[int, int | None], ...],
        kinds: dict[int, str],
        generation: int,
    ) -> Family:
        family = Family(births, kinds)
        if generation == self.generation:
            self._families.put(household_id, family)
        return family

    # --- forgetting --------------------------------------------------------------------------------------
    def keys_of(self, obj: object) -> set[Hashable] | object:
        if isinstance(obj, User):
            return {("user", obj.id)}
        if isinstance(obj, Membership):
            return {("user", obj.user_id), ("household", obj.household_id)}
        if isinstance(obj, CaseworkerPost):
            return {("user", obj.user_id)}
        if isinstance(obj, Child):
            return {("household", obj.household_id)}
        if isinstance(obj, Household):
            return ALL  # its members lose it by cascade, unseen by the ORM
        return set()

    def forget(self, keys: set[Hashable]) -> None:
        for kind, id_ in keys:  # type: ignore[misc]
            if kind == "user":
                telegram_id = self._telegram_of.pop(id_, None)
                if telegram_id is not None:
                    self._people.pop(telegram_id)
            else:
                self._families.pop(id_)

    def forget_all(self) -> None:
        self._people.clear()
        self._telegram_of.clear()
        self._families.clear()
