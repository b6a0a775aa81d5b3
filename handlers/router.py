"""One handler in front of the bot's button handlers, choosing among them by the first word of the callback data.

python-telegram-bot tries a group's handlers one by one: a press of "🔁 Another" went through about 50
`CallbackQueryHandler` regular expressions before its own. Every pattern here starts with its own first word
(`^tp:t:…`, `^(menu:cases|cs:page:…)$`), so only the handlers whose pattern starts with the pressed data's
first word can match it; they are tried, in their order, and nothing else. A handler whose pattern names no
first word (the stale-button catch-all) is tried for every press, in its place in the order.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, ContextTypes

_WORD = re.compile(r"\^([a-z]+):")
_CHOICE = re.compile(r"\^\(([^()]*)\)\$")


def first_words(pattern: str | None) -> frozenset[str] | None:
    """The first words data must start with to match `pattern` (`^word:` or `^(a:…|b:…)$`); None if any data may."""
    if pattern is None:
        return None
    if _top_level_choice(pattern):
        return None  # `^a:…|^b:…`: not read here; tried for every press
    single = _WORD.match(pattern)
    if single is not None:
        return frozenset({single.group(1)})
    choice = _CHOICE.fullmatch(pattern)
    if choice is not None:
        words = [re.match(r"([a-z]+):", option) for option in choice.group(1).split("|")]
        if all(words):
            return frozenset(w.group(1) for w in words if w is not None)
    return None


def _top_level_choice(pattern: str) -> bool:
    """Whether `pattern` has a `|` outside any parentheses (escaped characters skipped)."""
    depth, i = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False


class ButtonRouter(BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]):
    """Stands for `handlers` (CallbackQueryHandlers, in order) within one handler group."""

    def __init__(self, handlers: list[CallbackQueryHandler[ContextTypes.DEFAULT_TYPE, Any]]) -> None:
        super().__init__(self._unused)
        self.handlers = list(handlers)
        words: list[frozenset[str] | None] = []
        for handler in handlers:
            pattern = handler.pattern
            if pattern is not None and not isinstance(pattern, re.Pattern):
                raise TypeError(f"a button pattern must be a regular expression, not {pattern!r}")
            words.append(first_words(pattern.pattern if pattern is not None else None))
        known = {w for ws in words if ws is not None for w in ws}
        # Per first word: the handlers that may match, in their order (those for any data among them).
        self._by_word = {
            word: [h for h, ws in zip(handlers, words, strict=True) if ws is None or word in ws] for word in known
        }
        self._anything = [h for h, ws in zip(handlers, words, strict=True) if ws is None]

    @staticmethod
    async def _unused(update: object, context: object) -> None:  # the chosen handler's callback runs instead
        raise AssertionError("ButtonRouter.handle_update delegates")

    def check_update(self, update: object) -> object:
        if not isinstance(update, Update) or update.callback_query is None:
            return None
        data = update.callback_query.data
        if isinstance(data, str) and data:
            candidates = self._by_word.get(data.split(":", 1)[0], self._anything)
        else:
            candidates = self.handlers  # no data: python-telegram-bot lets every handler take it; all, in turn
        for handler in candidates:
            check = handler.check_update(update)
            if check is not None and check is not False:
                return handler, check
        return None

    async def handle_update(
        self,
        update: Update,
        application: Application[Any, Any, Any, Any, Any, Any],
        check_result: object,
        context: ContextTypes.DEFAULT_TYPE,
    ) -> object:
        handler, check = check_result  # type: ignore[misc]
        return await handler.handle_update(update, application, check, context)
