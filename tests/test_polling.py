"""`guardian-bot run` with a token: a real process polling a Bot API server over HTTP (here, on loopback).

The server is the same fake Bot API the other tests use, behind `http.server`, so python-telegram-bot's
own HTTP client, the configured `TELEGRAM_BASE_URL`, start-up migration and the command menus all run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.fake import FakeTelegram
from bot.paths import ROOT

TOKEN = "4242:POLLING-TEST-TOKEN"


class BotApiServer:
    def __init__(self) -> None:
        self.api = FakeTelegram(validate=False)
        self.updates: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                params = {k: _decode(v) for k, v in parse_qsl(body)} if body else {}
                method = self.path.rsplit("/", 1)[-1]
                with outer.lock:
                    if method == "getUpdates":
                        offset = int(params.get("offset", 0) or 0)
                        pending = [u for u in outer.updates if u["update_id"] >= offset]
                        status, payload = 200, {"ok": True, "result": pending}
                    else:
                        status, payload = outer.api.handle(method, params)
                if method == "getUpdates" and not payload["result"]:
                    time.sleep(0.2)  # a short long-poll, so the bot does not spin
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bot"

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c.params for c in self.api.calls if c.method == "sendMessage" and int(c.params["chat_id"]) == chat_id
            ]


def _decode(value: str) -> Any:
    # python-telegram-bot sends form fields; objects and numbers arrive JSON-encoded.
    try:
        return json.loads(value)
    except ValueError:
        return value


@pytest.fixture
def server() -> Iterator[BotApiServer]:
    srv = BotApiServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.server.shutdown()
        srv.server.server_close()


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_run_polls_the_configured_server_and_answers(server: BotApiServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=server.url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'poll.db'}",
        LOG_LEVEL="DEBUG",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        try:
            wait_for(lambda: any(c.method == "setMyCommands" for c in server.api.calls))
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()[0]) from None
        with server.lock:
            server.updates.append(
                {
                    "update_id": 1,
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "chat": {"id": 55, "type": "private"},
                        "from": {"id": 55, "is_bot": False, "first_name": "秀英", "language_code": "zh-hans"},
                        "text": "/start",
                        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                    },
                }
            )
        wait_for(lambda: server.sent_to(55))
        assert "请选择语言" in server.sent_to(55)[0]["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    languages = {c.params.get("language_code") for c in server.api.calls if c.method == "setMyCommands"}
    assert languages == {None, "zh", "en"}
    # Even at DEBUG, the log holds neither the token nor the person's name.
    assert "POLLING-TEST-TOKEN" not in output
    assert "秀英" not in output
    assert "Traceback" not in output


def test_admin_invite_asks_telegram_for_the_bot_username(server: BotApiServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=server.url, DATABASE_URL=f"sqlite:///{tmp_path / 'i.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "admin", "invite", "--post", "township-supervisor", "--area", "451321-02"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "https://t.me/guardian_offline_bot?start=" in result.stdout
