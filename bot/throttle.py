"""Incoming updates: each update id handled once, and one person cannot crowd out everyone else.

In memory, per process (one process per bot token): a duplicate arrives seconds apart (a network retry, a
webhook redelivery), and a flood is over in seconds; neither needs the database, and a dropped update must cost
next to nothing so that other people's replies are not slowed down.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

SEEN = 10_000  # recent update ids remembered
BURST = 12  # messages a person may send at once
RATE = 1.0  # messages a second refilled after a burst (a person typing is far slower)
NOTICE_EVERY = 60.0  # seconds between two "slow down" notices to the same person


@dataclass
class _Bucket:
    tokens: float
    at: float
    noticed_at: float = float("-inf")


@dataclass
class Gatekeeper:
    burst: int = BURST
    rate: float = RATE
    clock: Callable[[], float] = field(default=time.monotonic)
    _seen: OrderedDict[int, None] = field(default_factory=OrderedDict)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def first_time(self, update_id: int) -> bool:
        """True the first time an update id is seen (of the last SEEN)."""
        if update_id in self._seen:
            return False
        self._seen[update_id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        return True

    def admit(self, user_id: int) -> tuple[bool, bool]:
        """(let this update through, tell the person to slow down now): a token bucket per person."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(tokens=self.burst, at=now)
            if len(self._buckets) > SEEN:  # forget the quiet ones
                for key in [k for k, b in self._buckets.items() if b.tokens >= self.burst][: SEEN // 2]:
                    del self._buckets[key]
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True, False
        notice = now - bucket.noticed_at >= NOTICE_EVERY
        if notice:
            bucket.noticed_at = now
        return False, notice
