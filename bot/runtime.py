"""What every handler needs besides the update: settings, the database and the outbox dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.services import drafts
from bot.services.areas import Atlas
from bot.services.household import HouseholdViews
from bot.services.identities import Identities
from bot.services.tip_views import TipViews
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
    # Who is behind a Telegram id, remembered between updates (bot/services/identities.py).
    identities: Identities = field(init=False)
    # Tips each household has seen, and browsed tips waiting to be written (bot/services/tip_views.py).
    tip_views: TipViews = field(init=False)
    # Drafts kept between a person's steps (bot/services/drafts.py).
    drafts: drafts.Kept = field(init=False)
    # Households as shown (bot/services/household.py); services reach it through their session.
    household_views: HouseholdViews = field(init=False)
    # Areas by id (bot/services/areas.py): every report and escalation names its places.
    atlas: Atlas = field(init=False)

    def __post_init__(self) -> None:
        self.identities = Identities(self.db)
        self.tip_views = TipViews(self.db)
        self.drafts = drafts.Kept(self.db)
        self.household_views = HouseholdViews(self.db)
        self.atlas = Atlas(self.db)

    KEY = "runtime"
