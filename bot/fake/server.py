"""The fake Bot API over real HTTP, for a bot running as its own process (crash tests, benchmarks).

`FakeTelegram` answers every method as in-process tests see it; this adds the wire: python-telegram-bot's
HTTPXRequest posts form fields whose values are JSON, and `getUpdates` long-polls a queue the test fills.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from bot.fake.telegram import FakeTelegram


class FakeBotServer:
    def __init__(self, api: FakeTelegram | None = None, *, delay: float = 0.0) -> None:
        self.api = api or FakeTelegram(validate=False)
        self.delay = delay  # seconds each message-producing call takes (a slow network)
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """For TELEGRAM_BASE_URL: the bot appends its token."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/bot"

    def start(self) -> FakeBotServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def push_update(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append({"update_id": self._next_update_id, **payload})
            self._next_update_id += 1

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        with self._lock:
            calls = list(self.api.calls)
        return [
            str(c.params.get("text", ""))
            for c in calls
            if c.method == "sendMessage"
            and c.status == 200
            and (chat_id is None or int(c.params["chat_id"]) == chat_id)
        ]

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or time.monotonic() >= deadline:
                    return list(self._updates)
            time.sleep(0.02)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # quiet: the test's output is for failures
                return

            def do_POST(self) -> None:
                method = self.path.rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {}
                    for key, value in parse_qsl(raw, keep_blank_values=True):
                        try:
                            params[key] = json.loads(value)
                        except ValueError:
                            params[key] = value
                if method == "getUpdates":
                    status, body = 200, {"ok": True, "result": server._get_updates(params)}
                else:
                    if server.delay and method.startswith("send"):
                        time.sleep(server.delay)
                    with server._lock:
                        status, body = server.api.handle(method, params)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot process was killed mid-request: exactly what a crash test does

        return Handler
