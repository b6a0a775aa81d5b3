"""The content library: the shipped tips and frequent questions are valid, and a broken file is refused with
every problem listed; `guardian-bot content check` and `content stats --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.services import library as lib


def test_the_shipped_library_meets_the_brief() -> None:
    library = lib.load_library()
    figures = lib.stats(library)
    assert figures["tips"] >= 72 and figures["faqs"] >= 30
    assert all(n >= 4 for n in figures["tips_by_topic"].values()), figures["tips_by_topic"]
    assert all(n >= 15 for n in figures["tips_by_age"].values()), figures["tips_by_age"]
    assert figures["tips_by_audience"]["parent"] >= 10
    assert all(len(t.zh) <= lib.TIP_ZH_MAX for t in library.tips)
    assert figures["by_language"]["zh_Hans"] == figures["by_language"]["en"]
    # Seasonal advice: drowning in the summer months, and something for the Spring Festival.
    drowning = [t for t in library.tips if "drowning" in t.topics]
    assert drowning and all(library.in_season(t, 7) for t in drowning)
    assert any(t.season == "spring_festival" for t in library.tips)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_content_check_and_stats_from_the_command_line() -> None:
    checked = _run("content", "check")
    assert checked.returncode == 0, checked.stderr
    assert "content is valid" in checked.stdout
    stats = _run("content", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert set(figures["tips_by_age"]) == set(lib.AGE_BANDS)
    assert set(figures["by_language"]) == {"zh_Hans", "en"}


BROKEN_TIPS = """
[sources]
WHO-PLH = { zh = "终身健康养育", en = "Parenting for Lifelong Health" }
[seasons]
drowning = [5, 6, 7]
[[tip]]
id = "play-a"
topics = ["play"]
ages = ["3-5"]
audience = "guardian"
source = "WHO-PLH"
reviewed = 2026-11-01
zh = "每天陪孩子玩十分钟。"
en = "Play with the child for ten minutes a day."
[[tip]]
id = "play-a"
topics = ["gardening"]
ages = ["3-5", "18-99"]
audience = "uncle"
season = "monsoon"
source = "BLOG"
reviewed = 2099-01-01
zh = "Play more."
en = "多玩。"
[[tip]]
id = "long-one"
topics = ["play"]
ages = ["0-2"]
audience = "both"
source = "WHO-PLH"
reviewed = 2026-11-01
zh = "{long}"
en = "Short <b>bold</b> text."
"""


def test_a_broken_library_lists_every_problem(tmp_path: Path) -> None:
    tips = tmp_path / "tips.toml"
    tips.write_text(BROKEN_TIPS.replace("{long}", "很" * 151), encoding="utf-8")
    faq = tmp_path / "faq.toml"
    faq.write_text('[[faq]]\nid = "play-a"\n', encoding="utf-8")
    with pytest.raises(lib.LibraryError) as caught:
        lib.load_library(tips, faq, today=date(2026, 11, 29))
    text = str(caught.value)
    for expected in (
        "tip 'play-a': id used twice",
        "topics must be 1 to 3 of",
        "ages must be some of",
        "audience must be one of",
        "season 'monsoon' is not in [seasons]",
        "source 'BLOG' is not in [sources]",
        "reviewed 2099-01-01 is in the future",
        "zh has no Chinese characters",
        "en has Chinese characters outside brackets",
        "tip 'long-one': zh has 151 characters, more than 150",
        "en has <, > or &",
        "faq 'play-a': id used twice (ids are shared with the tips)",
        "q_zh is missing or empty",
        "3 tips, at least 72 are needed",
        "no tip on 'drowning'",
    ):
        assert expected in text, expected
    assert str(tips) in text and str(faq) in text
