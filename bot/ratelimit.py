"""The bot's rate limiter: python-telegram-bot's AIORateLimiter with one flood window shared by three lanes.

Telegram allows a bot about 30 messages a second overall. AIORateLimiter's own bucket (aiolimiter) lets 30 go
at once and then 30 more within the same second as it refills, so a busy bot goes over; `FloodWindow` instead
counts every request that names a chat from the moment it starts until a full period after its answer came
back (Telegram counts it somewhere in between), and lets one start only while fewer than 30 are counted.

Lanes, served in this order when the window is full:
- urgent: outbox messages that put a concern in front of the people who must act on it;
- reply: everything else, above all the answer to a person's own button press (a person is waiting);
- bulk: the rest of the outbox (tips, reminders, summaries). Paced evenly, at most one every period/29, and
  never into the last slot of the window, which stays free so a reply during a fan-out does not wait.

Replies retry a 429 inside the limiter. Outbox sends must not: the outbox reschedules the row itself, due after
`retry_after`, so nothing else waits. AIORateLimiter reads `rate_limit_args or max_retries`, so 0 cannot ask for
"no retries"; the outbox passes `NO_RETRIES` (bulk) or `URGENT` instead, and this subclass turns either into zero
retries for that call alone.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from time import monotonic
from types import TracebackType
from typing import Any

from telegram.constants import FloodLimit
from telegram.ext import AIORateLimiter

NO_RETRIES = -1  # an outbox send, bulk lane
URGENT = -2  # an outbox send, urgent lane
OUTBOX_ARGS = (NO_RETRIES, URGENT)

LANE_URGENT, LANE_REPLY, LANE_BULK = 0, 1, 2
_no_retries: ContextVar[bool] = ContextVar("no_retries", default=False)
_lane: ContextVar[int] = ContextVar("lane", default=LANE_REPLY)


class FloodWindow:
    """At most `limit` requests in any `period` seconds, with priority lanes and even pacing for bulk.

    Used as an async context manager around one request (python-telegram-bot's `_run_request` does that with
    its overall limiter); the lane comes from the caller's context. A request holds its place from entry until
    `period` after exit.
    """

    def __init__(self, limit: int = FloodLimit.MESSAGES_PER_SECOND, period: float = 1.0, *, reserve: int = 1) -> None:
        if not 0 <= reserve < limit:
            raise ValueError("reserve must leave bulk at least one place")
        self.limit = limit
        self.period = period
        self.bulk_limit = limit - reserve
        self.spacing = period / self.bulk_limit
        # A bulk send that starts late may catch up by this much, so scheduling jitter does not cost rate; the
        # window itself still caps every period.
        self.tolerance = 2 * self.spacing
        # Replies go at once while the window is less than half full; beyond that the places left are spread
        # over the time until the oldest request stops counting. A strict window alone would let a burst of
        # replies take every place and then hold the next one for most of a second.
        self.spread_from = limit // 2
        self._last = -math.inf  # when the latest request started
        self._expiries: deque[float] = deque()  # when each finished request stops counting, ascending
        self._in_flight = 0
        self._bulk_at = 0.0  # earliest start for the next bulk request (before tolerance)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def __aenter__(self) -> None:
        await self.acquire(_lane.get())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._in_flight -= 1
        self._expiries.append(monotonic() + self.period)
        self._wake()

    async def acquire(self, lane: int) -> None:
        now = monotonic()
        self._expire(now)
        if not self._waiters and self._delay(lane, now) <= 0:
            self._grant(lane, now)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (lane, next(self._order), future))
        self._wake()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._in_flight -= 1  # granted but never used: nothing was sent, so nothing to count
            else:
                future.cancel()
            self._wake()
            raise

    def _expire(self, now: float) -> None:
        while self._expiries and self._expiries[0] <= now:
            self._expiries.popleft()

    def _delay(self, lane: int, now: float) -> float:
        """Seconds until a request in `lane` may start (inf: until a request in flight finishes)."""
        cap = self.bulk_limit if lane == LANE_BULK else self.limit
        over = self._in_flight + len(self._expiries) - cap
        wait = 0.0
        if over >= 0:
            wait = self._expiries[over] - now if over < len(self._expiries) else math.inf
        if lane == LANE_BULK:
            wait = max(wait, self._bulk_at - self.tolerance - now)
        elif lane == LANE_REPLY:
            used = self._in_flight + len(self._expiries)
            free = self.limit - used
            # Not into the reserved place: that one is for a reply during a fan-out, and is never spread.
            if used >= self.spread_from and free > self.limit - self.bulk_limit:
                oldest = self._expiries[0] if self._expiries else now + self.period
                wait = max(wait, self._last + (oldest - self._last) / free - now)
        return wait

    def _grant(self, lane: int, now: float) -> None:
        self._in_flight += 1
        self._last = now
        if lane == LANE_BULK:
            self._bulk_at = max(self._bulk_at, now - self.tolerance) + self.spacing

    def _wake(self) -> None:
        now = monotonic()
        self._expire(now)
        while self._waiters:
            lane, _, future = self._waiters[0]
            if future.done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            delay = self._delay(lane, now)
            if delay > 0:
                # The head waits, and everyone behind it: lower lanes need at least as much room.
                if not math.isinf(delay):
                    self._arm(now + delay)
                return
            heapq.heappop(self._waiters)
            self._grant(lane, now)
            future.set_result(None)

    def _arm(self, at: float) -> None:
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = at
        self._timer = loop.call_at(loop.time() + max(0.0, at - monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self._wake()


class RateLimiter(AIORateLimiter):
    def __init__(self, *, max_retries: int = 3, window: FloodWindow | None = None) -> None:
        self._reply_retries = max_retries
        super().__init__(max_retries=max_retries)
        # python-telegram-bot enters its overall limiter around every request that names a chat; the flood
        # window takes its place (bench/interactive.py lifts and restores it through this same attribute).
        self._base_limiter = window or FloodWindow()  # type: ignore[assignment]

    @property  # type: ignore[override]
    def _max_retries(self) -> int:
        return 0 if _no_retries.get() else self._reply_retries

    @_max_retries.setter
    def _max_retries(self, value: int) -> None:
        self._reply_retries = value

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if rate_limit_args not in OUTBOX_ARGS:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        retries = _no_retries.set(True)
        lane = _lane.set(LANE_URGENT if rate_limit_args == URGENT else LANE_BULK)
        try:
            # The call still waits its turn under the overall and group limits; it just does not retry.
            return await super().process_request(callback, args, kwargs, endpoint, data, None)
        finally:
            _lane.reset(lane)
            _no_retries.reset(retries)
