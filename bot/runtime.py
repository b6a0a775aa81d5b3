"""What every handler needs besides the update: settings, the database and the outbox dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.throttle import Gatekeeper
from db.session import Database
from db.types import utcnow

if TYPE_CHECKING:
    from bot.dispatcher import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    db: Database
    dispatcher: Dispatcher
    # The time now; tests move it (opening hours, deadlines) without sleeping.
    clock: Callable[[], datetime] = field(default=utcnow)
    gatekeeper: Gatekeeper = field(default_factory=Gatekeeper)

    KEY = "runtime"
