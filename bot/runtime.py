"""What every handler needs besides the update: settings, the database and the outbox dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from db.session import Database

if TYPE_CHECKING:
    from bot.dispatcher import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    db: Database
    dispatcher: Dispatcher

    KEY = "runtime"
