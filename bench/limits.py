"""What the interactive targets are up against: the same journeys with parts of the bot switched off.

Not a target of its own, and nothing here is how the bot runs. `bench/interactive.py` measures the journeys as
built; this one asks how far each could go at most if a part it needs were free, against the bare echo handler
in the same run (the reference of the targets):

- tips, as built, then without each of: the rate limiter, the conversation persistence written after every
  update, the gate before every update (update ids seen, private chats only, floods), the four conversation
  flows a button press is checked against before the router; and without all four at once;
- the report journey, as built, then with its steps kept in memory only (the answers and the flow's state not
  written at each step: the most that writing them later, in batches, could save).

Rounds alternate the variants, each on households not seen before (a first contact costs what it costs), and
the median of the rounds is printed. Run: `python -m bench.limits [--backend sqlite|postgresql] [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telegram.ext import Application, ConversationHandler

import handlers.report
from bench import interactive as bi
from bot.config import Settings
from bot.persistence import SqlConversationPersistence
from bot.services import areas, contacts, drafts, library
from db.types import utcnow
from handlers.common import Ctx

PER_ROUND_BARE = 400  # echo updates per round


async def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


async def remember_in_memory(c: Ctx, flow: str, state: str, **values: object) -> dict[str, object]:
    """handlers.common.remember without its transaction: the draft and the state only in memory."""
    kept = c.rt.drafts
    generation = kept.generation
    known = kept.get(c.person.id, flow)
    data = drafts.merged(known[0] if known is not None else {}, {"state": state, **values})
    persistence = c.context.application.persistence
    chat = c.update.effective_chat
    if isinstance(persistence, SqlConversationPersistence) and persistence.persists(flow) and chat is not None:
        persistence.written(flow, (chat.id, c.person.telegram_id), state)  # so it is not written after the update
    kept.keep(c.person.id, flow, data, utcnow(), generation)
    return dict(data)


class Switches:
    """Parts of the running bot, switched off and on again (bench only: this reaches into the Application)."""

    def __init__(self, app: Application) -> None:  # type: ignore[type-arg]
        self.app = app
        self.limiter = app.bot._rate_limiter  # type: ignore[attr-defined]
        self.update_persistence = Application.update_persistence
        self.gate = app.handlers[-2][0]
        self.gate_callback = self.gate.callback
        self.flows = [h for h in app.handlers[0] if isinstance(h, ConversationHandler)]
        self.remember = handlers.report.remember  # type: ignore[attr-defined]

    @contextmanager
    def off(self, *parts: str) -> Iterator[None]:
        app = self.app
        if "limiter" in parts:
            app.bot._rate_limiter = None  # type: ignore[attr-defined]
        if "persistence" in parts:
            Application.update_persistence = _nothing  # type: ignore[method-assign,assignment]
        if "gate" in parts:
            self.gate.callback = _nothing
        if "flows" in parts:
            for flow in self.flows:
                app.handlers[0].remove(flow)
        if "steps" in parts:
            handlers.report.remember = remember_in_memory  # type: ignore[attr-defined]
        try:
            yield
        finally:
            app.bot._rate_limiter = self.limiter  # type: ignore[attr-defined]
            Application.update_persistence = self.update_persistence  # type: ignore[method-assign]
            self.gate.callback = self.gate_callback
            for i, flow in enumerate(self.flows):
                if flow not in app.handlers[0]:
                    app.handlers[0].insert(i, flow)
            handlers.report.remember = self.remember  # type: ignore[attr-defined]


TIPS_VARIANTS: dict[str, tuple[str, ...]] = {
    "as built": (),
    "no rate limiter": ("limiter",),
    "no persistence after each update": ("persistence",),
    "no gate": ("gate",),
    "no flows checked before the router": ("flows",),
    "none of these four": ("limiter", "persistence", "gate", "flows"),
}
CONCERN_VARIANTS: dict[str, tuple[str, ...]] = {
    "as built": (),
    "steps kept in memory, not written": ("steps",),
}


async def run(backend: str, rounds: int, per: int, pg_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        db = await bi.open_database(backend, Path(tmp), pg_url)
        try:
            await _run(db, backend, rounds, per)
        finally:
            await bi.close_database(db)


async def _run(db: Any, backend: str, rounds: int, per: int) -> None:
    library.library()
    async with db.transaction() as s:
        await areas.ensure_default_areas(s)
        await contacts.ensure_default_contacts(s)
    await bi.prepare_caseworkers(db)
    settings = Settings(telegram_bot_token=None, database_url=db.url, admin_telegram_ids=frozenset({999}))
    bare = await bi.start_bare(bi.IndexedTelegram(validate=True))
    h = await bi.start_bot(settings, db, bi.IndexedTelegram(validate=True))
    try:
        bi.Limiter(h.app).lift()  # as the judged figures: Telegram's overall 30/s cap lifted
        switches = Switches(h.app)
        needed = 4 + rounds * per * (len(TIPS_VARIANTS) + len(CONCERN_VARIANTS))
        families = iter(await bi.prepare_families(h, db, needed))
        warm = [next(families) for _ in range(4)]
        await bi.tips_journey(h, warm, 8)
        await bi.concern_journey(h, warm)
        senders = iter(bi.Person(f"P{i}", bi.BARE_IDS + i, "en") for i in range((rounds + 1) * PER_ROUND_BARE))
        await bi.bare_journey(bare, [next(senders) for _ in range(PER_ROUND_BARE)])  # warm-up

        async def per_update(journey: Callable[[], Awaitable[None]], updates: int) -> float:
            started = time.perf_counter()
            await journey()
            return (time.perf_counter() - started) * 1000 / updates

        echo: list[float] = []
        tips: dict[str, list[float]] = {name: [] for name in TIPS_VARIANTS}
        concern: dict[str, list[float]] = {name: [] for name in CONCERN_VARIANTS}
        for _ in range(rounds):
            batch = [next(senders) for _ in range(PER_ROUND_BARE)]
            echo.append(await per_update(lambda b=batch: bi.bare_journey(bare, b), PER_ROUND_BARE))  # type: ignore[misc]
            for name, parts in TIPS_VARIANTS.items():
                fs = [next(families) for _ in range(per)]
                with switches.off(*parts):
                    tips[name].append(await per_update(lambda fs=fs: bi.tips_journey(h, fs, 8), per * 10))  # type: ignore[misc]
            for name, parts in CONCERN_VARIANTS.items():
                fs = [next(families) for _ in range(per)]
                with switches.off(*parts):
                    concern[name].append(await per_update(lambda fs=fs: bi.concern_journey(h, fs), per * 7))  # type: ignore[misc]
        bi.check_clean(h, "limits")
    finally:
        await h.app.shutdown()
        await bare.app.shutdown()

    reference = statistics.median(echo)
    print(f"\nlimits, {backend}: ms of wall time per update (median of {rounds} rounds) and × the bare echo handler")
    print(f"  bare echo handler: {reference:.3f} ms ({1000 / reference:,.0f} updates/s)")
    for title, figures, target in (("tips", tips, 1 / 3), ("concern", concern, 1 / 10)):
        print(f"  {title} (target {target:.3f} ×: {reference / target:.2f} ms an update)")
        for name, values in figures.items():
            ms = statistics.median(values)
            print(f"    {name:<38} {ms:6.2f} ms  {reference / ms:.3f} ×")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and households")
    args = parser.parse_args()
    bi.quiet_logs()
    pg_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or bi.PG_DEFAULT
    rounds, per = (2, 6) if args.quick else (5, 20)
    asyncio.run(run(args.backend, rounds, per, pg_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
