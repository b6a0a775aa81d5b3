"""Fuzzing: random text (any Unicode, very long, control characters), random and forged callback data, and
unexpected media, from every role and in every conversation state. No handler fails, and no reply ever shows a
household's or an area's data to someone outside it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from db.session import Database
from handlers import COMMANDS
from tests.conftest import drop_database, fresh_database
from tests.harness import Harness, start_harness, stop_harness
from tests.journeys import add_child, create_household, family_code, join_with_code, person
from tests.test_concerns import caseworker_on
from tests.test_onboarding import PARENT

# Patterns of every kind of button the bot makes, with ids filled in at random (real, foreign, huge, junk).
PREFIXES = [
    "cs:open:",
    "cs:note:",
    "cs:police:",
    "cs:resolve:",
    "cs:msg:",
    "cs:refer:",
    "cs:transfer:",
    "cs:tr:1:",
    "cs:rf:1:",
    "cs:ack:",
    "cs:page:",
    "cs:day:",
    "wc:open:",
    "wc:close:",
    "qa:open:",
    "qa:ans:",
    "cl:s:",
    "cl:pause:",
    "cl:resume:",
    "cl:cancel:",
    "cl:cancel!:",
    "cl:mv:",
    "cl:pr:",
    "cl:done:",
    "cl:missed:",
    "cl:moved:",
    "cl:ask:",
    "cl:pa:",
    "cl:pd:",
    "cl:new:",
    "cl:quiet:",
    "cz:",
    "cd:",
    "ce:",
    "ct:",
    "cc:",
    "cn:",
    "cf:",
    "cg:",
    "tp:t:",
    "tp:up:",
    "tp:down:",
    "tp:f:",
    "tp:w:",
    "tp:at:daily:-:",
    "tp:s:",
    "ak:t:",
    "ak:v:",
    "rc:",
    "rt:",
    "rv:",
    "rw:",
    "rk:",
    "rd:",
    "rs:",
    "rsh:",
    "rf:",
    "report:",
    "mem:ok:",
    "mem:",
    "del:",
    "lang:",
    "need:",
    "menu:",
    "nav:",
    "yr:",
    "mo:",
    "sl:",
    "family:",
    "help:",
]
IDS = st.one_of(
    st.integers(0, 40).map(str),
    st.just("99999999999999999999999999"),
    st.sampled_from(["weekly", "once", "yes", "no", "send", "cancel", "other", "zh_Hans", "Mars/Olympus", "2000"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
)
CALLBACK = st.one_of(
    st.builds(lambda p, i: (p + i)[:64] or "x", st.sampled_from(PREFIXES), IDS),
    st.text(min_size=1, max_size=64),
)
TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=3000, max_size=5000),
    st.lists(st.sampled_from(["\x00", "\x07", "\u202e", "\u200b", "\ufeff", "a", "孩", "<b>", "&"]), max_size=50).map(
        "".join
    ),
    st.sampled_from([name for name, _d in COMMANDS]).map(lambda c: "/" + c),
    st.sampled_from(["20:15", "12-24", "2026-12-01", "Europe/Berlin", "13800138000", "我想死", "小红"]),
)
MEDIA = st.sampled_from(
    [
        {"voice": {"file_id": "AwACfuzzvoice", "file_unique_id": "fzv", "duration": 3}},
        {"photo": [{"file_id": "AgACfuzzphoto", "file_unique_id": "fzp", "width": 90, "height": 90}]},
        {
            "sticker": {
                "file_id": "CAACfuzz",
                "file_unique_id": "fzs",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"location": {"latitude": 23.9, "longitude": 108.6}},
        {"contact": {"phone_number": "+8613800138000", "first_name": "Wang"}},
    ]
)
STEP = st.tuples(
    st.sampled_from(["gran", "dad", "director", "stranger", "elsewhere", "other_gran"]),
    st.one_of(
        st.tuples(st.just("text"), TEXT),
        st.tuples(st.just("press"), CALLBACK),
        st.tuples(st.just("media"), MEDIA),
    ),
)
OUTSIDERS = {
    "小明": {"stranger", "elsewhere", "other_gran"},
    "阿花": {"stranger", "elsewhere", "gran", "dad", "director"},
}


class World:
    """One bot with two families in two townships, a child director of the first, one of elsewhere, a stranger."""

    def __init__(self, runner: asyncio.Runner, tmp: Any) -> None:
        self.runner = runner
        self.db: Database = runner.run(fresh_database("sqlite", tmp))
        runner.run(self._places())
        settings = Settings(
            telegram_bot_token=None,
            database_url=self.db.url,
            admin_telegram_ids=frozenset({999}),
            flood_burst=1_000_000,
        )
        self.bot: Harness = runner.run(start_harness(settings, self.db))
        self.people = {
            "gran": person("Gran", 9301, "en"),
            "dad": person("Dad", 9302, "en"),
            "director": person("cw5001", 5001, "en"),
            "stranger": person("Stranger", 9303, "zh_Hans"),
            "elsewhere": person("cw5009", 5009, "en"),
            "other_gran": person("Other", 9304, "zh_Hans"),
        }
        runner.run(self._seed())

    async def _places(self) -> None:
        from bot.services.areas import ensure_default_areas
        from bot.services.contacts import ensure_default_contacts

        async with self.db.transaction() as session:
            await ensure_default_areas(session)
            await ensure_default_contacts(session)

    async def _seed(self) -> None:
        bot, p = self.bot, self.people
        await caseworker_on(self.db, 5001, "child-director", "451321-02-S1")
        await caseworker_on(self.db, 5009, "child-director", "451321-05-S1")
        await create_household(
            bot, p["gran"], township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
        )
        await add_child(bot, p["gran"], "小明", 2016, 5, "Xiaoming-School")
        await bot.press(p["gran"].who, "That is all")
        await bot.press(p["gran"].who, "Not now")
        await join_with_code(bot, p["dad"], family_code(bot, p["gran"]), "Father", role=PARENT)
        other = p["other_gran"]
        await create_household(bot, other, township="古蓬镇", village="古蓬一村（示例）", relation="Grandmother")
        await add_child(bot, other, "阿花", 2019, 2, "Ahua-School")
        await bot.press(other.who, other._("✅ That is all"))
        await bot.press(other.who, other._("Not now"))
        # A concern about 小明, so the caseworker buttons have something real behind them.
        await bot.send(p["gran"].who, "/report")
        await bot.press(p["gran"].who, "小明")
        await bot.press(p["gran"].who, "Bullying")
        await bot.press(p["gran"].who, "No, not right now")
        await bot.press(p["gran"].who, "Skip")
        await bot.press(p["gran"].who, "No, keep me out of it")
        await bot.press(p["gran"].who, "Send now")
        assert not bot.errors, bot.errors

    def close(self) -> None:
        self.runner.run(stop_harness(self.bot))
        self.runner.run(drop_database(self.db))


def test_random_input_from_every_role_never_fails_and_never_leaks(tmp_path_factory: Any) -> None:
    runner = asyncio.Runner()
    world: World | None = None
    try:
        world = World(runner, tmp_path_factory.mktemp("fuzz"))

        @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(steps=st.lists(STEP, min_size=1, max_size=12))
        def run(steps: list[tuple[str, tuple[str, Any]]]) -> None:
            bot = world.bot
            before = len(bot.api.calls)
            for who_key, (kind, value) in steps:
                who = world.people[who_key].who
                if kind == "text":
                    runner.run(bot.send(who, value))
                elif kind == "press":
                    message = bot.messages(who)[-1] if bot.messages(who) else None
                    if message is None:
                        runner.run(bot.send(who, "/menu"))
                        message = bot.messages(who)[-1]
                    payload = {
                        "callback_query": {
                            "id": str(len(bot.api.calls)),
                            "from": bot._user(who),
                            "chat_instance": "fuzz",
                            "data": value,
                            "message": message,
                        }
                    }
                    runner.run(bot.feed(payload))
                else:
                    runner.run(bot.feed({"message": bot.message_json(who, None, **value)}))
                assert not bot.errors, bot.errors
            # No reply leaks a family's child to someone outside it.
            for call in bot.api.calls[before:]:
                text = str(call.params.get("text", "")) + str(call.params.get("caption", ""))
                chat = int(call.params.get("chat_id", 0) or 0)
                receiver = next((k for k, s in world.people.items() if s.who.id == chat), None)
                for secret, outsiders in OUTSIDERS.items():
                    if receiver in outsiders:
                        assert not re.search(secret, text), (receiver, text)

        run()
    finally:
        if world is not None:
            world.close()
        runner.close()
