"""Webhook mode: Telegram posts updates to us (an ASGI app: Starlette on uvicorn), one process per bot token.

Following python-telegram-bot's own `customwebhookbot/starlettebot.py`: the application runs without an
updater, and each POST is checked against the secret token Telegram was given with `setWebhook` (header
`X-Telegram-Bot-Api-Secret-Token`; wrong or missing: 403), then queued. A health endpoint tells a load
balancer or a monitor whether the database answers.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from db.session import Database

log = logging.getLogger(__name__)
PATH = "/telegram"
HEALTH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000  # Telegram's updates are small; anything larger is not from Telegram


def asgi_app(application: Application, db: Database, secret: str) -> Starlette:  # type: ignore[type-arg]
    async def telegram(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), application.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)
        await application.update_queue.put(update)  # answer at once; processing goes on in the background
        return Response(status_code=200)

    async def health(_request: Request) -> Response:
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # the monitor needs "down", not a traceback
            log.warning("health: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok", "running": application.running})

    return Starlette(
        routes=[Route(PATH, telegram, methods=["POST"]), Route(HEALTH, health, methods=["GET"])],
    )


async def serve(
    application: Application,  # type: ignore[type-arg]
    db: Database,
    *,
    secret: str,
    public_url: str | None,
    host: str,
    port: int,
    on_started: Any = None,
    on_server: Any = None,
) -> None:
    """Start the application, register the webhook (when a public URL is given), serve until stopped."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(asgi_app(application, db, secret), host=host, port=port, log_level="warning", lifespan="off")
    )
    if on_server is not None:
        on_server(server)  # tests stop it with `server.should_exit = True`
    async with application:
        await application.start()
        if on_started is not None:
            await on_started(application)
        if public_url:
            await application.bot.set_webhook(
                url=public_url.rstrip("/") + PATH, secret_token=secret, allowed_updates=Update.ALL_TYPES
            )
        log.info("webhook server listening on %s:%d", host, port)
        try:
            await server.serve()
        finally:
            await application.stop()
            # python-telegram-bot calls post_stop only from its own run_polling/run_webhook; serving ourselves, we
            # call it (what is kept in memory is written) before `async with` shuts down.
            if application.post_stop is not None:
                await application.post_stop(application)
