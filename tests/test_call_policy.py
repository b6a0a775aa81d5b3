"""The shipped call policy loads; a wrong one is refused with every problem listed."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.services.call_policy import CallPolicyError, load_policy


def test_the_shipped_policy() -> None:
    policy = load_policy()
    assert policy.parent_lead == timedelta(minutes=30) and policy.guardian_lead == timedelta(minutes=15)
    assert policy.nudge_days == (7, 14, 30)
    assert str(policy.quiet_hours) == "21:30-07:00"
    assert (policy.summary_weekday, policy.summary_time) == ("sun", time(19, 0))


def test_a_wrong_policy_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'parent_reminder_minutes = 10\nguardian_reminder_minutes = 20\nask_after_minutes = -1\nquiet_hours = "late"\n'
        'nudge_days = [14, 7, 30]\nsilence_days = 14\nsilence_answer_hours = 48\nsummary_weekday = "sunday"\n'
        'summary_time = "7pm"\nshout = true\n',
        encoding="utf-8",
    )
    with pytest.raises(CallPolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: 7 problem(s)")
    for part in (
        "unknown setting 'shout'",
        "guardian_reminder_minutes must not be more than parent_reminder_minutes",
        "ask_after_minutes must be a whole number from 0 to 1440, not -1",
        "quiet_hours must look like",
        "nudge_days must be three whole numbers of days in rising order",
        "summary_weekday must be one of",
        'summary_time must look like "19:00"',
    ):
        assert part in message
