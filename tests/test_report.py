"""The bureau's report (`guardian-bot admin report`): a known history in two townships gives exact cells, small
numbers (counts and the rates built on them) are "<5", nothing personal is written, and the command line works
end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import zipfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import cli
from bot.services import report, stats, triage
from bot.services.areas import ensure_default_areas
from db.models import (
    Area,
    BackupAdult,
    CallOccurrence,
    CallSchedule,
    CaseEvent,
    Child,
    Concern,
    Household,
    Membership,
    Question,
    TipDelivery,
    TipFeedback,
    User,
    WelfareCheck,
)
from db.session import Database
from tests.conftest import PG_URL

ZONE = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 15)  # two whole weeks, Monday to Sunday
NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
T1, T2, EMPTY, COUNTY = "451321-01", "451321-02", "451321-03", "451321"
# Words only people wrote or gave: none may reach the report.
SECRETS = ("秘密小明", "SecretNick", "王秘密", "13912345678", "SECRET-DESC", "SECRET-Q", "SECRET-ANSWER", "SECRET-NOTE")


def local(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    """A moment in Xincheng, March 2026 unless told."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


class History:
    """Adds rows with the least ceremony; numbers make the unique telegram ids and call slots."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.n = 0
        self.villages: dict[str, int] = {}

    async def village(self, code: str) -> int:
        if code not in self.villages:
            self.villages[code] = (await self.session.scalars(select(Area.id).where(Area.code == code))).one()
        return self.villages[code]

    async def user(self) -> User:
        self.n += 1
        user = User(telegram_id=500_000 + self.n, chat_id=500_000 + self.n, locale="zh_Hans", timezone="Asia/Shanghai")
        self.session.add(user)
        await self.session.flush()
        return user

    async def household(self, village: str, joined: datetime | None) -> tuple[Household, User]:
        """A household with a grandmother and, unless `joined` is None, a parent linked since `joined`."""
        household = Household(village_id=await self.village(village))
        self.session.add(household)
        await self.session.flush()
        gran = await self.user()
        self.session.add(
            Membership(household_id=household.id, user_id=gran.id, relation="grandmother", kind="guardian")
        )
        self.session.add(Child(household_id=household.id, nickname="秘密小明", birth_year=2018, birth_month=5))
        self.session.add(Child(household_id=household.id, nickname="SecretNick", birth_year=2020, birth_month=1))
        self.session.add(BackupAdult(household_id=household.id, name="王秘密", relation="aunt", phone="13912345678"))
        parent = gran
        if joined is not None:
            parent = await self.user()
            self.session.add(
                Membership(
                    household_id=household.id, user_id=parent.id, relation="mother", kind="parent", joined_at=joined
                )
            )
        await self.session.flush()
        return household, parent

    async def concern(
        self,
        village: str,
        category: str,
        urgency: str,
        created: datetime,
        *,
        ack_after: int | None = None,
        status: str = "open",
        escalated: bool = False,
    ) -> None:
        acknowledged = created + timedelta(minutes=ack_after) if ack_after is not None else None
        concern = Concern(
            village_id=await self.village(village),
            description="SECRET-DESC 孩子被打了，王秘密 13912345678",
            category=category,
            urgency=urgency,
            status=status,
            created_at=created,
            acknowledged_at=acknowledged,
            resolved_at=acknowledged + timedelta(days=1) if status == "resolved" and acknowledged else None,
            outcome="SECRET-NOTE" if status == "resolved" else None,
        )
        self.session.add(concern)
        await self.session.flush()
        self.session.add(CaseEvent(concern_id=concern.id, at=created, kind="notified"))
        if escalated:
            self.session.add(CaseEvent(concern_id=concern.id, at=created + timedelta(hours=1), kind="escalated"))

    async def calls(
        self, household: Household, parent: User, done: Sequence[datetime], missed: Sequence[datetime] = ()
    ):  # type: ignore[no-untyped-def]
        schedule = CallSchedule(
            household_id=household.id,
            parent_user_id=parent.id,
            kind="weekly",
            weekdays="wed",
            local_time="20:00",
            timezone="Asia/Shanghai",
            minutes=20,
            child_ids=[],
        )
        self.session.add(schedule)
        await self.session.flush()
        for due, outcome in [*((d, "done") for d in done), *((m, "missed") for m in missed)]:
            self.session.add(
                CallOccurrence(
                    schedule_id=schedule.id,
                    household_id=household.id,
                    due_at=due,
                    local_date=due.astimezone(ZONE).date().isoformat(),
                    ask_at=due + timedelta(hours=1),
                    outcome=outcome,
                )
            )

    async def question(self, village: str, status: str, created: datetime, hours: float | None = None) -> None:
        self.session.add(
            Question(
                village_id=await self.village(village),
                text="SECRET-Q 孩子不肯吃饭怎么办？",
                status=status,
                created_at=created,
                answered_at=created + timedelta(hours=hours) if hours is not None else None,
                answer="SECRET-ANSWER" if status == "answered" else None,
                library_helped=True if status == "library" else None,
            )
        )


async def seed(db: Database) -> None:
    """Chengguan (451321-01) is busy enough for most figures to show; Datang (451321-02) is small."""
    async with db.transaction() as session:
        await ensure_default_areas(session)
        h = History(session)
        s1, s2, d1 = "451321-01-S1", "451321-01-S2", "451321-02-S1"

        # Concerns. Chengguan: 5 violence (high: 120 minutes to take up), taken up after 10-50 minutes and
        # resolved, the first at 00:10 on the first local day (still the previous day in UTC) and the last at
        # 23:50 on the last; 2 bullying still open, both climbed. Two more fall just outside the period.
        for created, minutes in zip(
            (local(2, 0, 10), local(3), local(5), local(9), local(15, 23, 50)), (10, 20, 30, 40, 50), strict=True
        ):
            await h.concern(
                s1 if minutes < 40 else s2, "violence", "high", created, ack_after=minutes, status="resolved"
            )
        await h.concern(s1, "bullying", "normal", local(4), escalated=True)
        await h.concern(s2, "bullying", "normal", local(6), escalated=True)
        await h.concern(s1, "violence", "high", local(1, 23, 30), escalated=True)  # the day before
        await h.concern(s1, "violence", "high", local(16, 0, 5), escalated=True)  # the day after
        # Datang: 3 children left alone (emergency: 15 minutes), taken up after 5, 10 and 60 minutes.
        await h.concern(d1, "left_alone", "emergency", local(3), ack_after=5, status="acknowledged")
        await h.concern(d1, "left_alone", "emergency", local(8), ack_after=10, status="acknowledged")
        await h.concern(d1, "left_alone", "emergency", local(12), ack_after=60, status="acknowledged", escalated=True)

        # Households with a parent. Chengguan: 6 linked since February and a 7th from Wednesday of week 2.
        # Week 1: households 1-3 called (4 missed); week 2: households 1-6 (1 twice); 5 called the Sunday before.
        chengguan = [await h.household(s1 if i < 4 else s2, local(1, month=2)) for i in range(6)]
        chengguan.append(await h.household(s2, local(11, 12)))
        await h.household(s1, None)  # no parent linked: not counted
        for i, (household, parent) in enumerate(chengguan[:6]):
            done = [local(11, 20)] + ([local(4, 20)] if i < 3 else []) + ([local(13, 20)] if i == 0 else [])
            done += [local(1, 20)] if i == 4 else []
            await h.calls(household, parent, done, missed=[local(4, 20)] if i == 3 else [])
        # Datang: 2 households, both called in week 1.
        datang = [await h.household(d1, local(1, month=2)) for _ in range(2)]
        for household, parent in datang:
            await h.calls(household, parent, [local(4, 20)])

        # Welfare checks in Chengguan: 5 raised in the period, 4 of them closed; one from February closed then.
        for i, (household, _parent) in enumerate(chengguan[:5]):
            closed = local(10) if i < 4 else None
            session.add(
                WelfareCheck(
                    household_id=household.id,
                    village_id=household.village_id,
                    reason="no_contact",
                    status="closed" if closed else "open",
                    created_at=local(3 + i),
                    closed_at=closed,
                    note="SECRET-NOTE 王秘密" if closed else None,
                )
            )
        session.add(
            WelfareCheck(
                household_id=chengguan[5][0].id,
                village_id=chengguan[5][0].village_id,
                reason="guardian_silent",
                status="closed",
                created_at=local(20, month=2),
                closed_at=local(25, month=2),
            )
        )

        # Tips. Chengguan: 6 by message and 2 browsed in the period (one more in February); 5 helpful, 1 not for
        # me (one more after the period). Datang: 1 by message.
        for i, (household, parent) in enumerate(chengguan[:6]):
            session.add(
                TipDelivery(
                    household_id=household.id,
                    user_id=parent.id,
                    tip_id=f"tip-{i}",
                    via="subscription",
                    slot=f"2026-03-0{3 + i}T12:00",
                    sent_at=local(3 + i),
                )
            )
            session.add(TipFeedback(user_id=parent.id, tip_id="tip-a", helpful=i < 5, at=local(7)))
        session.add(
            TipDelivery(
                household_id=chengguan[0][0].id,
                user_id=chengguan[0][1].id,
                tip_id="tip-old",
                via="subscription",
                slot="2026-02-27T12:00",
                sent_at=local(27, month=2),
            )
        )
        for household, parent in chengguan[:2]:
            session.add(
                TipDelivery(
                    household_id=household.id, user_id=parent.id, tip_id="tip-b", via="browse", sent_at=local(9)
                )
            )
        session.add(TipFeedback(user_id=chengguan[6][1].id, tip_id="tip-a", helpful=False, at=local(20)))
        session.add(
            TipDelivery(
                household_id=datang[0][0].id,
                user_id=datang[0][1].id,
                tip_id="tip-0",
                via="subscription",
                slot="2026-03-05T12:00",
                sent_at=local(5),
            )
        )

        # Questions. Chengguan: 5 answered by the library, 6 by a person after 1-6 hours, 1 waiting; one asked
        # before the period. Datang: 2 answered after 10 and 20 hours.
        for i in range(5):
            await h.question(s1, "library", local(3 + i))
        for hours in range(1, 7):
            await h.question(s2, "answered", local(2 + hours), hours)
        await h.question(s1, "open", local(14))
        await h.question(s1, "answered", local(20, month=2), 2)
        await h.question(d1, "answered", local(4), 10)
        await h.question(d1, "answered", local(6), 20)


def blank_row() -> dict[str, str]:
    """A township where nothing happened: counts 0, medians and shares blank (nothing to measure)."""
    row = {c.key: "0" for c in report.COLUMNS}
    row.update({f"median_minutes_{u}": "" for u in triage.URGENCIES})
    row.update(households="0.0", call_share="", answer_median_hours="", level="township / 乡镇")
    row.update({"from": "2026-03-02", "to": "2026-03-15"})
    return row


def expected() -> dict[str, dict[str, str]]:
    chengguan = blank_row() | {
        "code": T1,
        "name_zh": "城关镇",
        "name_en": "Chengguan Town",
        "concerns": "7",
        "category_violence": "5",
        "category_bullying": "<5",
        "status_open": "<5",
        "status_acknowledged": "0",
        "status_resolved": "5",
        "in_time": "5",
        "late": "0",
        "waiting": "<5",
        "climbed": "<5",
        "median_minutes_high": "30.0",
        "households": "6.5",  # 6 in week 1, 7 in week 2
        "call_share": "69.2",  # 9 calling household-weeks of 13
        "welfare_raised": "5",
        "welfare_closed": "<5",
        "tips_sent": "6",
        "tips_browsed": "<5",
        "tips_helpful": "5",
        "tips_not_for_me": "<5",
        "questions_asked": "12",
        "questions_by_library": "5",
        "questions_by_person": "6",
        "questions_waiting": "<5",
        "answer_median_hours": "3.5",
    }
    datang = blank_row() | {
        "code": T2,
        "name_zh": "大塘镇",
        "name_en": "Datang Town",
        "concerns": "<5",
        "category_left_alone": "<5",
        "status_acknowledged": "<5",
        "in_time": "<5",
        "late": "<5",
        "climbed": "<5",
        "median_minutes_emergency": "<5",  # 3 taken up: 10 minutes would tell too much
        "households": "<5",
        "call_share": "<5",  # 100 per cent of 2 households
        "tips_sent": "<5",
        "questions_asked": "<5",
        "questions_by_person": "<5",
        "answer_median_hours": "<5",
    }
    county = blank_row() | {
        "level": "county total / 全县合计",
        "code": COUNTY,
        "name_zh": "忻城县",
        "name_en": "Xincheng County",
        "concerns": "10",
        "category_violence": "5",
        "category_bullying": "<5",
        "category_left_alone": "<5",
        "status_open": "<5",
        "status_acknowledged": "<5",
        "status_resolved": "5",
        "in_time": "7",
        "late": "<5",
        "waiting": "<5",
        "climbed": "<5",
        "median_minutes_emergency": "<5",
        "median_minutes_high": "30.0",
        "households": "8.5",
        "call_share": "64.7",  # 11 of 17
        "welfare_raised": "5",
        "welfare_closed": "<5",
        "tips_sent": "7",
        "tips_browsed": "<5",
        "tips_helpful": "5",
        "tips_not_for_me": "<5",
        "questions_asked": "14",
        "questions_by_library": "5",
        "questions_by_person": "8",
        "questions_waiting": "<5",
        "answer_median_hours": "4.5",  # 1, 2, 3, 4, 5, 6, 10, 20
    }
    empty = blank_row() | {"code": EMPTY, "name_zh": "思练镇", "name_en": "Silian Town"}
    return {T1: chengguan, T2: datang, EMPTY: empty, COUNTY: county}


def read_csv(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def check_table(table: list[list[str]]) -> None:
    header, *lines = table
    assert header == [c.label for c in report.COLUMNS]
    assert "concerns reported / 关切总数" in header and "concerns: violence / 关切：暴力伤害" in header
    # 12 townships in code order, then the county total.
    assert [line[3] for line in lines] == [f"451321-{n:02d}" for n in range(1, 13)] + [COUNTY]
    by_code = {line[3]: dict(zip([c.key for c in report.COLUMNS], line, strict=True)) for line in lines}
    for code, row in expected().items():
        assert by_code[code] == row, code
    names = {"code": "", "name_zh": "", "name_en": ""}
    for n in range(4, 13):
        assert by_code[f"451321-{n:02d}"] | names == blank_row() | names


def xlsx_table(path: Path) -> list[list[str]]:
    """The report sheet as the spreadsheet shows it: figures to one decimal (30.0 is stored as the number 30)."""
    book = load_workbook(path, read_only=True)
    try:
        return [
            [
                "" if cell.value is None else f"{cell.value:.1f}" if cell.number_format == "0.0" else str(cell.value)
                for cell in line
            ]
            for line in book["report 报表"].iter_rows()
        ]
    finally:
        book.close()


def leftovers(path: Path) -> list[Path]:
    return list(path.rglob("*.part"))


def no_secrets(path: Path) -> None:
    """Nothing anyone wrote or gave, in any part of the file (every member of an .xlsx, uncompressed)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            content = "".join(z.read(name).decode("utf-8") for name in z.namelist())
    else:
        content = path.read_text(encoding="utf-8-sig")
    for secret in SECRETS:
        assert secret not in content


async def test_cells_counts_and_rates_are_exact_and_small_ones_suppressed(db: Database, tmp_path: Path) -> None:
    await seed(db)
    async with db.transaction() as session:
        built = await report.build(session, first=FIRST, last=LAST, zone="Asia/Shanghai", now=NOW)
    assert built.county.code == COUNTY and built.generated_at == NOW
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    report.write(built, csv_path, "csv")
    report.write(built, xlsx_path, "xlsx")
    assert not leftovers(tmp_path)
    table = read_csv(csv_path)
    check_table(table)
    assert xlsx_table(xlsx_path) == table
    # Numbers stay numbers in the spreadsheet, so the bureau can add townships up.
    book = load_workbook(xlsx_path)
    county = next(book["report 报表"].iter_rows(min_row=14, values_only=True))
    keys = [c.key for c in report.COLUMNS]
    assert county[keys.index("concerns")] == 10 and county[keys.index("households")] == 8.5
    assert county[keys.index("late")] == "<5"
    notes = [line[0] for line in book["notes 说明"].iter_rows(values_only=True)]
    assert notes[0] == "忻城县 Xincheng County (451321)" and "2026-03-02 – 2026-03-15" in notes[1]
    for path in (csv_path, xlsx_path):
        no_secrets(path)


async def test_a_township_asked_for_by_county_code_and_wrong_codes(db: Database) -> None:
    async with db.transaction() as session:
        await ensure_default_areas(session)
        built = await report.build(session, first=FIRST, last=FIRST, zone="Asia/Shanghai", now=NOW, county_code=COUNTY)
        assert len(built.rows) == 13 and built.rows[-1]["to"] == "2026-03-02"
        for code in ("999999", T1):  # unknown, and a township
            with pytest.raises(report.ReportError, match="no county with code"):
                await report.build(session, first=FIRST, last=LAST, zone="Asia/Shanghai", now=NOW, county_code=code)


def test_suppression_rules() -> None:
    assert [report.count(n) for n in (0, 1, 4, 5, 12)] == [0, "<5", "<5", 5, 12]
    assert report.count(3) == stats.shown(3)
    assert report.rate(None, 0) == "" and report.rate(12.0, 0) == ""
    assert report.rate(100.0, 1) == "<5" and report.rate(10.0, 4.9) == "<5"
    assert report.rate(2 / 3 * 100, 5) == 66.7 and report.text(report.rate(75.0, 5)) == "75.0"
    assert set(report.CATEGORY_ZH) == set(triage.CATEGORIES)


def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the command line at the fixture's database, as its settings come: from the environment."""
    for name in ("TELEGRAM_BOT_TOKEN", "DATABASE_SCHEMA", "DEFAULT_TIMEZONE", "DEFAULT_LOCALE", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    if db.schema:
        assert PG_URL
        monkeypatch.setenv("DATABASE_URL", PG_URL)
        monkeypatch.setenv("DATABASE_SCHEMA", db.schema)
    else:
        monkeypatch.setenv("DATABASE_URL", db.url)
    # The CLI sets process-wide log levels; other tests in the same run check logging.
    monkeypatch.setattr(cli, "_logging", lambda _settings: None)


async def run_cli(*argv: str) -> int:
    # main() runs its own event loop, so it runs on a thread of its own, as in a separate process.
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_end_to_end(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(db)
    cli_env(db, monkeypatch)
    monkeypatch.chdir(tmp_path)
    span = ("--from", "2026-03-02", "--to", "2026-03-15")

    assert await run_cli("admin", "report", *span, "--format", "csv") == 0
    written = tmp_path / "report-2026-03-02-2026-03-15.csv"
    assert capsys.readouterr().out.strip() == written.name
    table = read_csv(written)
    check_table(table)
    no_secrets(written)

    out = tmp_path / "bureau.xlsx"
    assert await run_cli("admin", "report", *span, "--format", "xlsx", "--out", str(out), "--county", COUNTY) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert xlsx_table(out) == table
    no_secrets(out)

    backwards = ("--from", "2026-03-15", "--to", "2026-03-02")
    assert await run_cli("admin", "report", *backwards, "--format", "csv") == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "guardian-bot: --to 2026-03-02 is before --from 2026-03-15"
    assert captured.out == ""

    assert await run_cli("admin", "report", *span, "--format", "csv", "--county", "999999") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["guardian-bot: cannot make the report: no county with code '999999'"]

    missing = tmp_path / "no-such-dir" / "r.csv"
    assert await run_cli("admin", "report", *span, "--format", "csv", "--out", str(missing)) == 1
    assert f"cannot write {missing}" in capsys.readouterr().err
    assert not leftovers(tmp_path) and not (tmp_path / "no-such-dir").is_dir()  # no half a file left

    with pytest.raises(SystemExit) as usage:  # argparse: a usage error, status 2
        await run_cli("admin", "report", "--from", "2026-3-x", "--to", "2026-03-15", "--format", "csv")
    assert usage.value.code == 2
    assert "not a date (YYYY-MM-DD): '2026-3-x'" in capsys.readouterr().err
