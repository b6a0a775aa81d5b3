"""Ranking of help contacts, as a pure service function: no Telegram, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.services.caseworker import PostView
from bot.services.directory import Entry, rank

# Asia/Shanghai is UTC+8: 02:00 UTC is 10:00 on a Wednesday in the county, 14:00 UTC is 22:00.
WEDNESDAY_MORNING = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
WEDNESDAY_NIGHT = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
OFFICE = "mon-fri 08:30-12:00 14:30-17:30"


def entry(
    key: str, level: str, categories: tuple[str, ...], hours: str = OFFICE, position: int = 0, **kw: object
) -> Entry:
    return Entry(
        key=key,
        kind=str(kw.get("kind", "clinic")),
        categories=categories,
        level=level,
        name_zh=key,
        name_en=key,
        helps_zh="",
        helps_en="",
        phone="07720000000",
        hours=hours,
        is_sample=False,
        position=position,
        post=kw.get("post"),  # type: ignore[arg-type]
    )


DIRECTORY = [
    entry("national-12356", "national", ("mental_health",), "daily 08:00-02:00", 1),
    entry("gx-12345-6", "province", ("protection", "school", "mental_health"), "24h", 2),
    entry("county-hospital", "county", ("health", "emergency"), "24h", 3),
    entry("county-edu", "county", ("school",), OFFICE, 4),
    entry("township-school", "township", ("school",), "mon-fri 07:30-17:30", 5),
    entry("township-clinic", "township", ("health",), "daily 08:00-17:30", 6),
    entry("village-clinic", "village", ("health",), "daily 08:00-12:00", 7),
    entry("village-director", "village", ("protection", "school"), OFFICE, 8),
    entry("national-120", "national", ("health", "emergency"), "24h", 0),
]


def keys(need: str, now: datetime) -> list[str]:
    return [r.entry.key for r in rank(DIRECTORY, need, now)]


def test_in_office_hours_the_nearest_level_comes_first() -> None:
    assert keys("school", WEDNESDAY_MORNING) == [
        "village-director",
        "township-school",
        "county-edu",
        "gx-12345-6",
    ]
    assert keys("health", WEDNESDAY_MORNING) == ["village-clinic", "township-clinic", "county-hospital", "national-120"]


def test_out_of_hours_the_open_alternative_comes_first_and_closed_ones_say_when_they_open() -> None:
    ranked = rank(DIRECTORY, "school", WEDNESDAY_NIGHT)
    assert [r.entry.key for r in ranked] == ["gx-12345-6", "village-director", "township-school", "county-edu"]
    assert [r.open_now for r in ranked] == [True, False, False, False]
    director = ranked[1]
    assert director.opens_at is not None
    assert (director.opens_at.day, director.opens_at.hour, director.opens_at.minute) == (3, 8, 30)
    health = [r.entry.key for r in rank(DIRECTORY, "health", WEDNESDAY_NIGHT)]
    assert health == ["county-hospital", "national-120", "village-clinic", "township-clinic"]


def test_at_most_five_and_only_the_need_asked_for() -> None:
    many = [entry(f"v{i}", "village", ("legal",), "24h", i) for i in range(9)]
    assert [r.entry.key for r in rank(many, "legal", WEDNESDAY_MORNING)] == ["v0", "v1", "v2", "v3", "v4"]
    assert rank(many, "health", WEDNESDAY_MORNING) == []


def test_for_an_emergency_110_120_119_come_before_the_nearest_hospital() -> None:
    emergency = [
        entry("county-hospital", "county", ("emergency",), "24h", 1),
        entry("cn-120", "national", ("emergency",), "24h", 3, kind="ambulance"),
        entry("cn-110", "national", ("emergency",), "24h", 2, kind="police"),
    ]
    assert [r.entry.key for r in rank(emergency, "emergency", WEDNESDAY_NIGHT)] == [
        "cn-110",
        "cn-120",
        "county-hospital",
    ]


def test_a_verified_caseworker_comes_first_on_their_level() -> None:
    post = PostView(id=1, level="village", area_zh="大塘镇大塘一村", area_en="Datang Village 1", area_id=10, phone=None)
    verified = entry("p1", "village", ("protection",), OFFICE, -1, post=post, kind="child_director")
    ranked = rank([*DIRECTORY, verified], "protection", WEDNESDAY_MORNING)
    assert [r.entry.key for r in ranked][:2] == ["p1", "village-director"]
