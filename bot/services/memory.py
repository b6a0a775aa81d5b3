"""Things kept in memory from database rows, and forgotten when those rows change (identities, tip views,
drafts). One process per bot token, so every change goes through this process's sessions, except what an
admin command does from another process: entries also age out (`ttl`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from db.session import Database

ALL = object()  # "forget everything"
# Execution option for a statement that changes nothing any of these caches keep (e.g. last_seen_at alone).
UNCACHED = "memory_uncached"


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Shelf(Generic[K, V]):
    """Entries with the time they were put: one older than `ttl` is not given back, and beyond `size` the least
    recently used goes first (`on_evict` hears of it)."""

    def __init__(
        self,
        ttl: float,
        size: int,
        clock: Callable[[], float],
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        self.ttl, self.size, self.clock, self.on_evict = ttl, size, clock, on_evict
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        kept = self._items.get(key)
        if kept is None or self.clock() - kept[0] > self.ttl:
            return None
        self._items.move_to_end(key)
        return kept[1]

    def holds(self, key: K) -> bool:
        """Whether a fresh entry is there (its value may be None: "known to be nothing")."""
        kept = self._items.get(key)
        return kept is not None and self.clock() - kept[0] <= self.ttl

    def put(self, key: K, value: V, *, keep_age: bool = False) -> None:
        """Put `value`; `keep_age`: as old as the entry it replaces (a change this process made itself)."""
        kept = self._items.get(key)
        self._items[key] = (kept[0] if keep_age and kept is not None else self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            old_key, (_at, old) = self._items.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old_key, old)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Forgetful(ABC):
    """Something kept in memory from database rows, forgotten when those rows change through `db`'s sessions.

    Subclasses say which tables they read (`WATCHED`), what to forget for a flushed object (`keys_of`) and how
    (`forget`, `forget_all`). Keys are forgotten at the flush and again at the commit; a bulk statement or raw
    SQL on a watched table forgets everything. `generation` moves on every forgetting: an entry read while it
    moved is not stored.
    """

    WATCHED: frozenset[str] = frozenset()
    OWN: str | None = None  # an execution option marking the subclass's own writes, which it need not forget

    def __init__(self, db: Database, *, ttl: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self.generation = 0
        self._mark = f"forget-{id(self)}"
        cls = db.session_class
        event.listen(cls, "after_flush", self._after_flush)
        event.listen(cls, "after_commit", self._after_commit)
        event.listen(cls, "after_soft_rollback", self._after_rollback)
        event.listen(cls, "do_orm_execute", self._on_execute)

    @abstractmethod
    def keys_of(self, obj: object) -> set[Hashable] | object:
        """What to forget when `obj` is inserted, changed or deleted: keys, or ALL."""

    @abstractmethod
    def forget(self, keys: set[Hashable]) -> None:
        """Drop the entries of `keys`."""

    @abstractmethod
    def forget_all(self) -> None:
        """Drop every entry."""

    def shelf(self, size: int, on_evict: Callable[[K, V], None] | None = None) -> Shelf[K, V]:
        """A Shelf with this cache's age limit and clock."""
        return Shelf(self.ttl, size, self.clock, on_evict)

    def may_keep(self, session: Any, generation: int) -> bool:
        """Whether what `session` read while `generation` was current may be kept: nothing was forgotten since,
        and the session has no change of its own that may yet roll back."""
        return generation == self.generation and self._mark not in session.info and not (session.new or session.dirty)

    def forget_with(self, session: Any, keys: set[Hashable]) -> None:
        """Forget `keys` now and again when `session` commits: for a change made with the OWN option."""
        marked = session.info.get(self._mark, set())
        if marked is not ALL:
            session.info[self._mark] = marked | keys
        self._drop(keys)

    def _drop(self, keys: set[Hashable] | object) -> None:
        self.generation += 1
        if keys is ALL:
            self.forget_all()
        else:
            assert isinstance(keys, set)
            self.forget(keys)

    def _after_flush(self, session: Session, _flush: UOWTransaction) -> None:
        marked: set[Hashable] | object = session.info.get(self._mark, set())
        for obj in (*session.new, *session.dirty, *session.deleted):
            if marked is ALL:
                break
            keys = self.keys_of(obj)
            if keys is ALL:
                marked = ALL
            else:
                assert isinstance(keys, set) and isinstance(marked, set)
                marked |= keys
        if marked is ALL or marked:
            session.info[self._mark] = marked
            self._drop(marked)

    def _after_commit(self, session: Session) -> None:
        marked = session.info.pop(self._mark, None)
        if marked is not None:
            self._drop(marked)

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        # Forgotten at a flush now undone: forgotten for nothing, no harm; the mark must not outlive it.
        session.info.pop(self._mark, None)

    def _on_execute(self, state: ORMExecuteState) -> None:
        options = state.execution_options
        if state.is_select or options.get(UNCACHED) or (self.OWN is not None and options.get(self.OWN)):
            return
        table = getattr(state.statement, "table", None)
        if table is not None and table.name not in self.WATCHED:
            return
        # A bulk statement on a watched table, or raw SQL: forget everything, now and at commit.
        state.session.info[self._mark] = ALL
        self._drop(ALL)
