"""The county civil-affairs bureau's report (`guardian-bot admin report`): the figures of `bot.services.stats`
for each township of a county, plus the county total, aggregated and de-identified, as CSV or .xlsx.

Only counts, rates and medians leave this module: no names, nicknames, descriptions, questions or phone numbers
are read at all (stats reads none either). Area names are the administrative names of townships, not personal
data. Small numbers are suppressed so that nobody can be singled out:

* a count from 1 to 4 is shown as "<5" (`stats.shown`); 0 is shown as 0, since it discloses nobody;
* a percentage, average or median whose base count is from 1 to 4 is "<5" as well, so that a small number
  cannot be recovered from a rate; with a base of 0 there is nothing to measure and the cell is left blank.

Medians of minutes to take up a concern are given per urgency (emergency, high, normal), because their
deadlines differ a hundredfold (15 minutes to 24 hours) and one overall median would mostly say how many of
each kind there were. Each median's base is the number of concerns of that urgency taken up.

No Telegram imports here: the command line (bot/cli.py) calls `build` and `write`.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import stats, triage
from bot.services.areas import AreaView
from db.models import Area

FORMATS = ("csv", "xlsx")
SUPPRESSED = f"<{stats.SMALL}"

# A cell: a whole count, a one-decimal figure (a percentage, an average, a median), or text ("<5", blank,
# dates, codes, names). Numbers stay numbers so the bureau's spreadsheet can add the townships up.
Cell = int | float | str


@dataclass(frozen=True)
class Column:
    key: str
    en: str
    zh: str

    @property
    def label(self) -> str:
        return f"{self.en} / {self.zh}"


# Short names for the report's header; the bot's own menu labels are sentences meant for families.
CATEGORY_ZH = {
    "danger_now": "正处危险",
    "violence": "暴力伤害",
    "sexual_abuse": "性侵害",
    "left_alone": "无人照看",
    "missing": "走失",
    "injury_illness": "受伤或生病",
    "self_harm": "情绪低落或自伤",
    "not_in_school": "不去上学",
    "bullying": "欺凌",
    "other": "其他",
}
URGENCY_ZH = {"emergency": "紧急", "high": "高", "normal": "一般"}
LEVEL_TEXT = {"township": "township / 乡镇", "county": "county total / 全县合计"}

# Every header label, in column order: the one place to change a word.
COLUMNS: tuple[Column, ...] = (
    Column("from", "from", "起始日期"),
    Column("to", "to", "截止日期"),
    Column("level", "level", "级别"),
    Column("code", "area code", "区划代码"),
    Column("name_zh", "name (Chinese)", "名称"),
    Column("name_en", "name (English)", "英文名称"),
    Column("concerns", "concerns reported", "关切总数"),
    *(Column(f"category_{c}", f"concerns: {c}", f"关切：{CATEGORY_ZH.get(c, c)}") for c in triage.CATEGORIES),
    Column("status_open", "now open", "待受理"),
    Column("status_acknowledged", "now acknowledged", "已受理"),
    Column("status_resolved", "now resolved", "已解决"),
    Column("in_time", "taken up in time", "按时受理"),
    Column("late", "taken up late", "超时受理"),
    Column("waiting", "not yet taken up", "尚未受理"),
    Column("climbed", "climbed a level", "逐级上报"),
    *(
        Column(f"median_minutes_{u}", f"median minutes to take up: {u}", f"受理用时中位数（分钟）：{URGENCY_ZH[u]}")
        for u in triage.URGENCIES
    ),
    Column("households", "households with a linked parent, average per week", "有外出父母关联的家庭（周均）"),
    Column("call_share", "share with a confirmed call, %", "确认通话的家庭周占比（%）"),
    Column("welfare_raised", "welfare checks raised", "发起探访"),
    Column("welfare_closed", "welfare checks closed", "完成探访"),
    Column("tips_sent", "tips sent", "推送提示"),
    Column("tips_browsed", "tips browsed", "浏览提示"),
    Column("tips_helpful", "tips: helpful", "提示：有帮助"),
    Column("tips_not_for_me", "tips: not for me", "提示：不适合我"),
    Column("questions_asked", "questions asked", "提问总数"),
    Column("questions_by_library", "answered by the library", "由问答库解答"),
    Column("questions_by_person", "answered by a person", "由工作人员解答"),
    Column("questions_waiting", "questions waiting", "待回答"),
    Column("answer_median_hours", "median hours to answer", "回答用时中位数（小时）"),
)

# The xlsx's second sheet; the CSV stays one plain table that any tool reads.
NOTES: tuple[str, ...] = (
    "Counts from 1 to 4 are shown as <5; 0 is shown as 0. / 1至4的数字显示为<5；0照常显示。",
    "A percentage, average or median whose base is from 1 to 4 is shown as <5; with a base of 0 it is blank. "
    "/ 基数为1至4的比例、平均数或中位数显示为<5；基数为0时留空。",
    "Concerns are those reported in the period; their status is as it was when the report was made. "
    "/ 关切指统计期间内提出的关切；状态为生成报表时的状态。",
    "Minutes to take up: from the report to the first acknowledgement (or resolution), by urgency; the base is "
    "the number taken up. / 受理用时：从提出到首次受理（或解决），按紧急程度分列；基数为已受理数。",
    "Households: those with a parent linked, averaged over the Monday-to-Sunday weeks the period touches; the "
    "share is household-weeks with a confirmed call. / 家庭数为各周（周一至周日）平均；占比按家庭周计算。",
    "Tip feedback is counted where the person's household is. / 提示反馈按反馈人所在家庭计入。",
    "Median hours to answer: questions answered by a person; the base is their number. "
    "/ 回答用时中位数：由工作人员回答的问题；基数为其数量。",
    "No names, nicknames, descriptions, questions or phone numbers are included. "
    "/ 本报表不含任何姓名、昵称、描述、提问内容或电话号码。",
)


class ReportError(Exception):
    """The report cannot be made as asked (an unknown county); the message says why."""


@dataclass(frozen=True)
class Report:
    county: AreaView
    period: stats.Period
    generated_at: datetime
    rows: tuple[dict[str, Cell], ...]  # the townships by code, then the county total

    @property
    def header(self) -> list[str]:
        return [c.label for c in COLUMNS]

    def table(self) -> list[list[Cell]]:
        return [[row[c.key] for c in COLUMNS] for row in self.rows]


async def build(
    session: AsyncSession, *, first: date, last: date, zone: str, now: datetime, county_code: str | None = None
) -> Report:
    """The report of a county (by code; the first county when none is given) for the local days first..last."""
    if county_code is None:
        county = await session.scalar(select(Area).where(Area.level == "county").order_by(Area.code).limit(1))
        if county is None:
            raise ReportError("there is no county in the areas table")
    else:
        county = await session.scalar(select(Area).where(Area.code == county_code))
        if county is None or county.level != "county":
            raise ReportError(f"no county with code {county_code!r}")
    period = stats.days(first, last, zone)
    scope = await stats.scope_of(session, county.id)
    rows = []
    for township in scope.townships:
        rows.append(row(await stats.figures(session, scope.only(township), period, now=now), township, "township"))
    # The total comes from the county's own figures, not from adding the rows up: medians do not add.
    rows.append(row(await stats.figures(session, scope, period, now=now), scope.area, "county"))
    return Report(scope.area, period, now, tuple(rows))


def row(figures: stats.Figures, area: AreaView, level: str) -> dict[str, Cell]:
    """One line of the report, suppressed as the module's docstring says."""
    period = figures.period
    cells: dict[str, Cell] = {
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "level": LEVEL_TEXT[level],
        "code": area.code,
        "name_zh": area.name_zh,
        "name_en": area.name_en,
        "concerns": count(figures.concerns),
    }
    for category in triage.CATEGORIES:
        cells[f"category_{category}"] = count(figures.by_category.get(category, 0))
    for status in stats.STATUSES:
        cells[f"status_{status}"] = count(figures.by_status.get(status, 0))
    acks = figures.acknowledgement
    cells["in_time"] = count(sum(a.in_time for a in acks))
    cells["late"] = count(sum(a.late for a in acks))
    cells["waiting"] = count(sum(a.waiting for a in acks))
    cells["climbed"] = count(figures.climbed)
    by_urgency = {a.urgency: a for a in acks}
    for urgency in triage.URGENCIES:
        ack = by_urgency.get(urgency)
        cells[f"median_minutes_{urgency}"] = rate(ack.median_minutes, ack.in_time + ack.late) if ack is not None else ""
    # The average of weekly households is itself the base of the share: a share of fewer than 5 households
    # a week would let a reader work out which few called.
    households = statistics.fmean(w.households for w in figures.weeks) if figures.weeks else 0.0
    # No household at all is a plain 0 (it discloses nobody), not a blank like a median with nothing to measure.
    cells["households"] = rate(households, households) if households else 0.0
    share = figures.contact_share
    cells["call_share"] = rate(share * 100 if share is not None else None, households)
    cells["welfare_raised"] = count(figures.welfare_raised)
    cells["welfare_closed"] = count(figures.welfare_closed)
    cells["tips_sent"] = count(figures.tips_sent)
    cells["tips_browsed"] = count(figures.tips_browsed)
    cells["tips_helpful"] = count(figures.tips_helpful)
    cells["tips_not_for_me"] = count(figures.tips_not_for_me)
    cells["questions_asked"] = count(figures.questions_asked)
    cells["questions_by_library"] = count(figures.questions_by_library)
    cells["questions_by_person"] = count(figures.questions_by_person)
    cells["questions_waiting"] = count(figures.questions_waiting)
    cells["answer_median_hours"] = rate(figures.answer_median_hours, figures.questions_by_person)
    return cells


def count(n: int) -> Cell:
    """A count: 1 to 4 become "<5" (`stats.shown`, the rule the bot's charts use too); others stay numbers."""
    text = stats.shown(n)
    return n if text == str(n) else text


def rate(value: float | None, base: float) -> Cell:
    """A percentage, average or median, to one decimal: "<5" on a base of 1 to 4, blank on a base of 0."""
    if value is None or base <= 0:
        return ""
    if base < stats.SMALL:
        return SUPPRESSED
    return round(value, 1)


def text(cell: Cell) -> str:
    """A cell as the CSV writes it (one decimal for figures, so 75 per cent reads 75.0 in every row)."""
    if isinstance(cell, float):
        return f"{cell:.1f}"
    return str(cell)


def default_name(first: date, last: date, fmt: str) -> str:
    return f"report-{first.isoformat()}-{last.isoformat()}.{fmt}"


def write(report: Report, path: Path, fmt: str) -> None:
    """Write the report; through a temporary file, so a failed write never leaves half a report behind."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    partial = path.with_name(path.name + ".part")
    try:
        if fmt == "csv":
            _write_csv(report, partial)
        else:
            _write_xlsx(report, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _write_csv(report: Report, path: Path) -> None:
    # utf-8-sig: the byte-order mark tells Excel the file is UTF-8, or the Chinese comes out garbled.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(report.header)
        writer.writerows([text(cell) for cell in line] for line in report.table())


def _write_xlsx(report: Report, path: Path) -> None:
    from openpyxl import Workbook  # only this format needs it; the CSV path stays light
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "report 报表"  # sheet names may not contain "/"
    sheet.append(report.header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for line in report.table():
        sheet.append(line)
    for number_cell in sheet.iter_rows(min_row=2):
        for cell in number_cell:
            if isinstance(cell.value, float):
                cell.number_format = "0.0"
    sheet.freeze_panes = "G2"  # the period, level, code and names stay in view while scrolling right
    notes = book.create_sheet("notes 说明")
    county = report.county
    notes.append([f"{county.name_zh} {county.name_en} ({county.code})"])
    notes.append(
        [
            f"period / 统计期间: {report.period.first_day.isoformat()} – {report.period.last_day.isoformat()} "
            f"({report.period.zone})"
        ]
    )
    notes.append([f"generated / 生成时间: {report.generated_at:%Y-%m-%d %H:%M} UTC"])
    for note in NOTES:
        notes.append([note])
    book.save(path)
