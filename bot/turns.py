"""Taking turns per key (a chat): one holder at a time, the others served in the order they asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class Turns:
    """A FIFO lock per key, made when first asked for and forgotten when nobody holds or awaits it."""

    __slots__ = ("_locks",)

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        """Keys with someone holding or awaiting their turn."""
        return len(self._locks)

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:  # asyncio.Lock wakes its waiters in the order they came
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]
