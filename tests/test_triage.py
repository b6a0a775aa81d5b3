"""Triage: the shipped concern policy, urgency, deadlines, the police-report duty and danger-first guidance."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.services.triage import (
    CATEGORIES,
    DEFAULT_POLICY,
    URGENCIES,
    Guidance,
    Policy,
    PolicyError,
    ack_deadline,
    guidance,
    load_policy,
    needs_police_report,
    urgency,
)

BASE = {
    "danger_now": "emergency",
    "violence": "high",
    "sexual_abuse": "emergency",
    "left_alone": "high",
    "missing": "emergency",
    "injury_illness": "normal",
    "self_harm": "high",
    "not_in_school": "normal",
    "bullying": "normal",
    "other": "normal",
}
CALL = {
    "danger_now": ("110", "120"),
    "violence": ("110",),
    "sexual_abuse": ("110",),
    "left_alone": ("110",),
    "missing": ("110",),
    "injury_illness": ("120",),
    "self_harm": ("120", "110"),
    "not_in_school": (),
    "bullying": (),
    "other": (),
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def test_shipped_policy_loads(policy: Policy) -> None:
    assert DEFAULT_POLICY.is_file()
    assert tuple(policy.urgency) == CATEGORIES
    assert set(BASE) == set(CATEGORIES)


def test_triage_imports_neither_telegram_nor_the_database() -> None:
    # Run in a fresh interpreter: this test process has long since imported both.
    code = (
        "import sys, bot.services.triage, bot.services.ladder;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'sqlalchemy', 'db'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("category", CATEGORIES)
def test_urgency_for_every_category_and_danger_answer(policy: Policy, category: str) -> None:
    assert urgency(policy, category, in_danger=False) == BASE[category]
    assert urgency(policy, category, in_danger=True) == "emergency"


def test_self_harm_with_means_at_hand_is_an_emergency(policy: Policy) -> None:
    # Reported as self_harm + "in danger right now".
    assert urgency(policy, "self_harm", in_danger=False) == "high"
    assert urgency(policy, "self_harm", in_danger=True) == "emergency"


def test_danger_answer_never_lowers_urgency(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        'in_danger_urgency = "emergency"', 'in_danger_urgency = "high"'
    )
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    relaxed = load_policy(path)
    assert urgency(relaxed, "missing", in_danger=True) == "emergency"
    assert urgency(relaxed, "other", in_danger=True) == "high"


def test_deadlines(policy: Policy) -> None:
    assert ack_deadline(policy, "emergency") == timedelta(minutes=15)
    assert ack_deadline(policy, "high") == timedelta(hours=2)
    assert ack_deadline(policy, "normal") == timedelta(hours=24)
    assert set(policy.deadlines) == set(URGENCIES)


def test_mandatory_reporting_categories(policy: Policy) -> None:
    assert policy.mandatory_report == {"violence", "sexual_abuse", "left_alone", "missing"}
    assert [c for c in CATEGORIES if needs_police_report(policy, c)] == [
        "violence",
        "sexual_abuse",
        "left_alone",
        "missing",
    ]


@pytest.mark.parametrize("category", CATEGORIES)
def test_guidance_numbers(policy: Policy, category: str) -> None:
    calm = guidance(policy, category, in_danger=False)
    assert calm.numbers == CALL[category]
    danger = guidance(policy, category, in_danger=True)
    # A child in danger always gets a number; 110 when the category names none.
    assert danger.numbers == (CALL[category] or ("110",))


def test_keep_evidence_only_for_sexual_abuse(policy: Policy) -> None:
    assert guidance(policy, "sexual_abuse", in_danger=True) == Guidance(numbers=("110",), keep_evidence=True)
    assert guidance(policy, "sexual_abuse", in_danger=False).keep_evidence
    assert [c for c in CATEGORIES if guidance(policy, c, in_danger=True).keep_evidence] == ["sexual_abuse"]


def test_unknown_category_or_urgency_is_a_programming_error(policy: Policy) -> None:
    with pytest.raises(ValueError, match="unknown concern category 'fire'"):
        urgency(policy, "fire", in_danger=False)
    with pytest.raises(ValueError, match="unknown concern category"):
        guidance(policy, "fire", in_danger=True)
    with pytest.raises(ValueError, match="unknown concern category"):
        needs_police_report(policy, "fire")
    with pytest.raises(ValueError, match="unknown urgency 'urgent'"):
        ack_deadline(policy, "urgent")


def test_policy_cannot_be_changed_in_place(policy: Policy) -> None:
    with pytest.raises(TypeError):
        policy.urgency["other"] = "emergency"  # type: ignore[index]


def _broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_broken_policy_lists_every_problem_at_once(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    # Missing category: drop the "bullying" block.
    start = text.index('[[category]]\nkey = "bullying"')
    end = text.index("[[category]]", start + 1)
    text = text[:start] + text[end:]
    # Unknown urgency, negative deadline, a number that is not an emergency number.
    text = text.replace(
        'key = "violence"            # hurt by someone\nurgency = "high"', 'key = "violence"\nurgency = "urgent"'
    )
    text = text.replace("high = 120", "high = -5")
    text = text.replace('call = ["120"]', 'call = ["12355"]')
    with pytest.raises(PolicyError) as caught:
        load_policy(_broken(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'policy.toml'}: 4 problem(s)")
    assert "category 'bullying' is missing" in message
    assert "category 'violence': urgency must be one of emergency, high, normal, not 'urgent'" in message
    assert "ack_deadline_minutes: high must be a whole number of minutes above 0, not -5" in message
    assert "category 'injury_illness': call number '12355' is not one of 110, 120, 119" in message


def test_more_policy_mistakes(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    text = text.replace("normal = 1440", "normal = 1.5")
    text = text.replace("emergency = 15", "")
    text = text.replace('key = "other"', 'key = "other"\nurgncy = "high"')
    text = text.replace('call = ["120", "110"]', 'call = ["120", "120"]')
    text = text.replace("keep_evidence = true ", 'keep_evidence = "yes" ')
    text += '\n[[category]]\nkey = "bullying"\nurgency = "normal"\n\n[[category]]\nkey = "fire"\nurgency = "high"\n'
    with pytest.raises(PolicyError) as caught:
        load_policy(_broken(tmp_path, text))
    problems = str(caught.value).splitlines()[1:]
    assert [p.strip() for p in problems] == [
        "- ack_deadline_minutes: emergency is missing",
        "- ack_deadline_minutes: normal must be a whole number of minutes above 0, not 1.5",
        "- category 'sexual_abuse': keep_evidence must be true or false, not 'yes'",
        "- category 'self_harm': call number 120 is listed twice",
        "- category 'other': unknown field 'urgncy'",
        "- category 'bullying': appears more than once",
        "- [[category]] #12: unknown category 'fire'",
    ]


def test_numbers_without_quotes_are_accepted(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace('call = ["110", "120"]', "call = [110, 120]")
    assert load_policy(_broken(tmp_path, text)).numbers["danger_now"] == ("110", "120")


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the concern policy"):
        load_policy(tmp_path / "absent.toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(_broken(tmp_path, "in_danger_urgency = \n"))
