"""Find help: the contacts (and verified caseworkers) that serve a need in a place, nearest and open first.

`rank` is a pure function over plain values, so the ordering rules are tested without Telegram or a
database; `entries_for` loads what `rank` needs for one village.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import areas, caseworker, hours
from bot.services.caseworker import PostView
from bot.services.contacts import CATEGORIES
from db.models import Contact

# The needs a person can ask about are the directory's categories, in the same order.
NEEDS = CATEGORIES
# Needs where a child may be in danger right now: 110 / 120 / 119 are shown before anything else.
MAY_BE_EMERGENCY = frozenset({"emergency", "protection", "health", "mental_health", "women_family"})
EMERGENCY_KINDS = frozenset({"police", "ambulance", "fire"})
LEVELS = ("village", "township", "county", "province", "national")
MAX_ENTRIES = 5
CONTACT_TZ = "Asia/Shanghai"  # the directory is for a county in China; hours are local there
# Verified caseworkers answer in office hours; outside them a 24-hour line comes first.
POST_HOURS = "mon-fri 08:30-12:00 14:30-17:30"
POST_NEEDS = {
    "village": ("protection", "school", "assistance", "women_family", "mental_health", "volunteers"),
    "township": ("protection", "assistance", "school", "women_family"),
}
# A verified post replaces the sample contact of the same kind on the same area.
POST_KIND = {"village": "child_director", "township": "township_station"}


@dataclass(frozen=True)
class Place:
    village_id: int | None
    township_id: int | None
    county_id: int | None

    def level_of(self, area_id: int | None) -> str | None:
        return {self.village_id: "village", self.township_id: "township", self.county_id: "county"}.get(area_id)


@dataclass(frozen=True)
class Entry:
    key: str  # "c<id>" for a directory contact, "p<id>" for a verified caseworker post
    kind: str
    categories: tuple[str, ...]
    level: str
    name_zh: str
    name_en: str
    helps_zh: str
    helps_en: str
    phone: str | None
    hours: str
    is_sample: bool
    position: int
    post: PostView | None = None

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh_Hans" else self.name_en

    def helps(self, locale: str) -> str:
        return self.helps_zh if locale == "zh_Hans" else self.helps_en


@dataclass(frozen=True)
class Ranked:
    entry: Entry
    open_now: bool
    opens_at: datetime | None  # local time of the next opening, when closed


def rank(entries: Iterable[Entry], need: str, now: datetime, *, limit: int = MAX_ENTRIES) -> list[Ranked]:
    """Entries serving `need`: open ones first, then nearest level first, then the directory's order.

    In office hours that is simply village → township → county → Guangxi → national. Out of hours the
    closed ones drop behind whatever is open (usually a 24-hour hotline), and say when they open.
    """
    ranked: list[Ranked] = []
    for entry in entries:
        if need not in entry.categories:
            continue
        parsed = hours.parse(entry.hours)
        is_open = hours.is_open(parsed, now, CONTACT_TZ)
        opens = None if is_open else hours.next_opening(parsed, now, CONTACT_TZ)
        ranked.append(Ranked(entry, is_open, opens))

    def first_for_emergencies(r: Ranked) -> bool:
        # For an emergency, 110 / 120 / 119 come before any hospital, however near.
        return not (need == "emergency" and r.entry.kind in EMERGENCY_KINDS)

    ranked.sort(
        key=lambda r: (
            not r.open_now,
            first_for_emergencies(r),
            LEVELS.index(r.entry.level),
            r.entry.position,
            r.entry.key,
        )
    )
    return ranked[:limit]


async def place_of(session: AsyncSession, village_id: int) -> Place:
    path = await areas.area_path(session, village_id)
    by_level = {a.level: a.id for a in path}
    return Place(by_level.get("village"), by_level.get("township"), by_level.get("county"))


async def entries_for(session: AsyncSession, place: Place) -> list[Entry]:
    """Every contact reaching this place (its village, township, county, Guangxi, national), plus the
    verified caseworkers of its village and township, who replace the sample entries for their posts."""
    area_ids = [i for i in (place.village_id, place.township_id, place.county_id) if i is not None]
    contacts = (
        await session.scalars(
            select(Contact).where(or_(Contact.scope.in_(("CN", "GX")), Contact.area_id.in_(area_ids)))
        )
    ).all()
    posts: list[PostView] = []
    for level, area_id in (("village", place.village_id), ("township", place.township_id)):
        if area_id is not None:
            posts += await caseworker.posts_for_area(session, area_id, level)
    replaced = {(POST_KIND[p.level], p.area_id) for p in posts}
    entries: list[Entry] = []
    for c in contacts:
        if c.is_sample and (c.kind, c.area_id) in replaced:
            continue
        level = {"CN": "national", "GX": "province"}.get(c.scope) or place.level_of(c.area_id)
        if level is None:
            continue
        entries.append(
            Entry(
                key=f"c{c.id}",
                kind=c.kind,
                categories=tuple(c.categories),
                level=level,
                name_zh=c.name_zh,
                name_en=c.name_en,
                helps_zh=c.helps_zh,
                helps_en=c.helps_en,
                phone=c.phone,
                hours=c.hours,
                is_sample=c.is_sample,
                position=c.position,
            )
        )
    for p in posts:
        entries.append(
            Entry(
                key=f"p{p.id}",
                kind=POST_KIND[p.level],
                categories=POST_NEEDS[p.level],
                level=p.level,
                name_zh=p.area_zh,
                name_en=p.area_en,
                helps_zh="",
                helps_en="",
                phone=p.phone,
                hours=POST_HOURS,
                is_sample=False,
                position=-1,  # a verified person comes before the directory entries of the same level
                post=p,
            )
        )
    return entries


def find(entries: Iterable[Entry], key: str) -> Entry | None:
    return next((e for e in entries if e.key == key), None)
