"""The bot's rate limiter: python-telegram-bot's AIORateLimiter, retrying a 429 for direct replies only.

Replies to a person's own button press retry a 429 inside the limiter (a person is waiting). Outbox
sends must not: the outbox reschedules the row itself, due after `retry_after`, so nothing else waits.
AIORateLimiter reads `rate_limit_args or max_retries`, so 0 cannot ask for "no retries"; the outbox
passes `NO_RETRIES` instead, and this subclass turns it into zero retries for that call alone.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from telegram.ext import AIORateLimiter

NO_RETRIES = -1
_no_retries: ContextVar[bool] = ContextVar("no_retries", default=False)


class RateLimiter(AIORateLimiter):
    def __init__(self, *, max_retries: int = 3) -> None:
        self._reply_retries = max_retries
        super().__init__(max_retries=max_retries)

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
        if rate_limit_args != NO_RETRIES:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        token = _no_retries.set(True)
        try:
            # The call still waits its turn under the overall and group limits; it just does not retry.
            return await super().process_request(callback, args, kwargs, endpoint, data, None)
        finally:
            _no_retries.reset(token)
