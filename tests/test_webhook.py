"""Webhook mode over real HTTP: Telegram's posts with the right secret are handled, a wrong or missing secret
gets 403, junk gets 400, the health endpoint answers, and the webhook is registered with the secret."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx

from bot.app import build_application
from bot.config import Settings
from bot.fake import BOT_TOKEN, FakeRequest, FakeTelegram
from bot.webhook import HEALTH, PATH, SECRET_HEADER, serve
from db.session import Database

SECRET = "s3cret-token_for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_checks_the_secret_and_handles_updates(settings: Settings, db: Database) -> None:
    api = FakeTelegram()
    app = build_application(settings, db, token=BOT_TOKEN, request=FakeRequest(api), max_retries=0)
    stopped: list[str] = []
    write_waiting = app.post_stop
    assert write_waiting is not None

    async def post_stop(application: Any) -> None:
        stopped.append("post_stop")
        await write_waiting(application)

    app.post_stop = post_stop
    port = free_port()
    servers: list[Any] = []
    task = asyncio.create_task(
        serve(
            app,
            db,
            secret=SECRET,
            public_url="https://bot.example.org",
            host="127.0.0.1",
            port=port,
            on_server=servers.append,
        )
    )
    base = f"http://127.0.0.1:{port}"
    update = {
        "update_id": 42,
        "message": {
            "message_id": 1,
            "date": 1_800_000_000,
            "chat": {"id": 9901, "type": "private"},
            "from": {"id": 9901, "is_bot": False, "first_name": "Gran", "language_code": "en"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(100):
                try:
                    health = await client.get(HEALTH)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert health.status_code == 200 and health.json()["ok"] is True
            assert (await client.post(PATH, json=update)).status_code == 403
            assert (
                await client.post(PATH, json=update, headers={SECRET_HEADER: "wrong-secret-000000"})
            ).status_code == 403
            assert (await client.post(PATH, content=b"not json", headers={SECRET_HEADER: SECRET})).status_code == 400
            assert api.texts(9901) == []  # nothing refused was handled
            assert (await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})).status_code == 200
            for _ in range(100):
                if api.texts(9901):
                    break
                await asyncio.sleep(0.05)
            assert api.texts(9901), "the update posted with the right secret was not handled"
    finally:
        servers[0].should_exit = True
        await asyncio.wait_for(task, 15)
    assert stopped == ["post_stop"], "what is kept in memory (tips browsed, signs of life) was not written at stop"
    [registered] = [c for c in api.calls if c.method == "setWebhook"]
    assert registered.params["url"] == "https://bot.example.org/telegram"
    assert registered.params["secret_token"] == SECRET
