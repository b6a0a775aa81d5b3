"""The county's figures as PNG charts, in the reader's language, Chinese drawn with Noto Sans CJK SC.

matplotlib's object API (no pyplot: nothing global, safe in a worker thread). The font file comes with the
`mplfonts` package (installed by `make`); without it Chinese labels would be drawn as empty boxes, so its
absence is an error, not a silent fallback. Labels carry no emoji (the font has none).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.figure import Figure

from bot.i18n import Tr
from bot.services import concerns as concern_labels
from bot.services.stats import Figures

FONT_FILE = "NotoSansCJKsc-Regular.otf"
WIDTH, HEIGHT, DPI = 8.0, 4.5, 110  # 880 x 495 pixels: readable on a phone, small to send
COLOURS = {"main": "#2f6f8f", "good": "#3a8f5c", "late": "#d99a2b", "bad": "#c8553d", "muted": "#9aa5ad"}


class FontMissing(RuntimeError):
    """The CJK font is not installed: run `make install` (it comes with the mplfonts package)."""


@cache
def font_path() -> Path:
    try:
        import mplfonts
    except ImportError as exc:  # pragma: no cover - a broken install
        raise FontMissing(FONT_FILE) from exc
    path = Path(mplfonts.__file__).parent / "fonts" / FONT_FILE
    if not path.is_file():
        raise FontMissing(str(path))
    font_manager.fontManager.addfont(str(path))
    return path


@cache
def _family() -> str:
    return font_manager.FontProperties(fname=str(font_path())).get_name()


@dataclass(frozen=True)
class Chart:
    name: str  # concerns | open | acknowledgement | contact | help
    title: str
    png: bytes


def _figure(ncols: int = 1) -> tuple[Figure, list]:  # type: ignore[type-arg]
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0].tolist()
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _rc() -> dict[str, object]:
    return {"font.family": _family(), "font.size": 10, "axes.titlesize": 12, "axes.unicode_minus": False}


def period_line(tr: Tr, figures: Figures) -> str:
    p = figures.period
    first, last = tr.date_only(p.first_day), tr.date_only(p.last_day)
    where = figures.scope.area.name(tr.locale)
    return tr.gettext("{place}, {first} – {last}").format(place=where, first=first, last=last)


def _bars(ax, labels: list[str], values: list[int], colour: str, *, horizontal: bool = True) -> None:  # type: ignore[no-untyped-def]
    if horizontal:
        bars = ax.barh(labels, values, color=colour)
        ax.invert_yaxis()  # first item on top
        ax.set_xlim(0, max([*values, 1]) * 1.2)
    else:
        bars = ax.bar(labels, values, color=colour)
        ax.set_ylim(0, max([*values, 1]) * 1.2)
    ax.bar_label(bars, padding=2)
    (ax.xaxis if horizontal else ax.yaxis).get_major_locator().set_params(integer=True)


def concerns_chart(tr: Tr, figures: Figures) -> Chart:
    _ = tr.gettext
    with matplotlib.rc_context(_rc()):
        figure, (left, right) = _figure(2)
        categories = list(figures.by_category)
        _bars(
            left,
            [_(concern_labels.CATEGORY_LABELS[c]) for c in categories],
            [figures.by_category[c] for c in categories],
            COLOURS["main"],
        )
        left.set_title(_("By kind"))
        statuses = {"open": _("Waiting"), "acknowledged": _("Taken up"), "resolved": _("Resolved")}
        _bars(
            right,
            [statuses[s] for s in figures.by_status],
            list(figures.by_status.values()),
            COLOURS["good"],
            horizontal=False,
        )
        right.set_title(_("Where they are now"))
        title = _("Concerns reported: {n}").format(n=figures.concerns)
        figure.suptitle(f"{title}\n{period_line(tr, figures)}")
        return Chart("concerns", title, _png(figure))


def open_chart(tr: Tr, figures: Figures) -> Chart:
    _ = tr.gettext
    with matplotlib.rc_context(_rc()):
        figure, (ax,) = _figure()
        towns = figures.scope.townships
        _bars(ax, [t.name(tr.locale) for t in towns], [figures.open_by_township[t.id] for t in towns], COLOURS["bad"])
        title = _("Concerns not yet resolved, by township: {n}").format(n=sum(figures.open_by_township.values()))
        ax.set_title(title)
        return Chart("open", title, _png(figure))


def acknowledgement_chart(tr: Tr, figures: Figures) -> Chart:
    _ = tr.gettext
    labels = {"emergency": _("Emergency"), "high": _("High"), "normal": _("Normal")}
    with matplotlib.rc_context(_rc()):
        figure, (ax,) = _figure()
        rows = figures.acknowledgement
        names = [
            _("{urgency}\n(within {deadline})").format(
                urgency=labels[a.urgency], deadline=_minutes(tr, a.deadline_minutes)
            )
            for a in rows
        ]
        left = [0] * len(rows)
        for key, label, colour in (
            ("in_time", _("Taken up in time"), COLOURS["good"]),
            ("late", _("Taken up late"), COLOURS["late"]),
            ("waiting", _("Not yet taken up"), COLOURS["bad"]),
        ):
            values = [getattr(a, key) for a in rows]
            ax.barh(names, values, left=left, color=colour, label=label)
            left = [x + y for x, y in zip(left, values, strict=True)]
        for y, a in enumerate(rows):
            median = _minutes(tr, round(a.median_minutes)) if a.median_minutes is not None else "—"
            note = _("climbed a level: {n} · typical wait: {median}").format(n=a.climbed, median=median)
            ax.annotate(note, (left[y], y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, max([*left, 1]) * 1.8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
        title = _("Taken up within the deadline: {n} of {total}").format(
            n=sum(a.in_time for a in rows), total=sum(a.total for a in rows)
        )
        figure.suptitle(f"{title}\n{period_line(tr, figures)}")
        return Chart("acknowledgement", title, _png(figure))


def _minutes(tr: Tr, minutes: int) -> str:
    if minutes >= 1440 and minutes % 1440 == 0:
        return tr.ngettext("{n} day", "{n} days", minutes // 1440).format(n=minutes // 1440)
    if minutes >= 60:
        hours = round(minutes / 60)
        return tr.ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    return tr.ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)


def contact_chart(tr: Tr, figures: Figures) -> Chart:
    _ = tr.gettext
    with matplotlib.rc_context(_rc()):
        figure, (ax,) = _figure()
        weeks = figures.weeks
        labels = [tr.date_only(w.first_day, "short") for w in weeks]
        shares = [round(100 * w.share) if w.share is not None else 0 for w in weeks]
        bars = ax.bar(labels, shares, color=COLOURS["main"])
        ax.bar_label(
            bars, labels=[f"{s}%\n{w.with_call}/{w.households}" for s, w in zip(shares, weeks, strict=True)], fontsize=8
        )
        ax.set_ylim(0, 125)
        ax.set_ylabel(_("households with a call that week (%)"))
        ax.tick_params(axis="x", labelrotation=45 if len(weeks) > 6 else 0, labelsize=8)
        title = _("Parents who kept in touch (a confirmed video call in the week)")
        welfare = _("Welfare checks asked for: {raised}, closed: {closed}").format(
            raised=figures.welfare_raised, closed=figures.welfare_closed
        )
        figure.suptitle(f"{title}\n{period_line(tr, figures)} · {welfare}")
        return Chart("contact", title, _png(figure))


def help_chart(tr: Tr, figures: Figures) -> Chart:
    _ = tr.gettext
    f = figures
    with matplotlib.rc_context(_rc()):
        figure, (left, right) = _figure(2)
        _bars(
            left,
            [_("Sent by message"), _("Browsed"), _("Helpful"), _("Not for me")],
            [f.tips_sent, f.tips_browsed, f.tips_helpful, f.tips_not_for_me],
            COLOURS["main"],
        )
        left.set_title(_("Tips"))
        _bars(
            right,
            [_("Asked"), _("Answered by the library"), _("Answered by a person"), _("Waiting")],
            [f.questions_asked, f.questions_by_library, f.questions_by_person, f.questions_waiting],
            COLOURS["good"],
        )
        hours = f"{f.answer_median_hours:.1f}" if f.answer_median_hours is not None else "—"
        right.set_title(_("Questions (a person answers in {hours} h, typically)").format(hours=hours))
        title = _("Tips and questions")
        figure.suptitle(f"{title}\n{period_line(tr, figures)}")
        return Chart("help", title, _png(figure))


CHARTS: tuple[Callable[[Tr, Figures], Chart], ...] = (
    concerns_chart,
    open_chart,
    acknowledgement_chart,
    contact_chart,
    help_chart,
)


def all_charts(tr: Tr, figures: Figures) -> list[Chart]:
    return [draw(tr, figures) for draw in CHARTS]


def summary(tr: Tr, f: Figures) -> str:
    """The key numbers in words, for the screen and the Monday digest."""
    _ = tr.gettext
    share = f"{round(100 * f.contact_share)}%" if f.contact_share is not None else "—"
    in_time = sum(a.in_time for a in f.acknowledgement)
    lines = [
        _("📊 <b>{place}</b>, {first} – {last}").format(
            place=f.scope.area.name(tr.locale),
            first=tr.date_only(f.period.first_day),
            last=tr.date_only(f.period.last_day),
        ),
        _("Concerns reported: {n}; taken up within the deadline: {in_time}; climbed a level: {climbed}.").format(
            n=f.concerns, in_time=in_time, climbed=f.climbed
        ),
        _("Not yet resolved (any date): {n}.").format(n=sum(f.open_by_township.values())),
        _("Parents with a confirmed video call in the week: {share}.").format(share=share),
        _("Welfare checks asked for: {raised}, closed: {closed}").format(
            raised=f.welfare_raised, closed=f.welfare_closed
        ),
        _("Tips sent by message: {sent}, browsed: {browsed}, marked helpful: {helpful}.").format(
            sent=f.tips_sent, browsed=f.tips_browsed, helpful=f.tips_helpful
        ),
        _("Questions: {asked}; answered by the library: {library}, by a person: {person}, waiting: {waiting}.").format(
            asked=f.questions_asked,
            library=f.questions_by_library,
            person=f.questions_by_person,
            waiting=f.questions_waiting,
        ),
    ]
    return "\n".join(lines)
