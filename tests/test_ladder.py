"""The escalation ladder: who is told, when it climbs, failover on 403, and the never-left-alone property."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.ladder import (
    Decision,
    Ladder,
    Person,
    State,
    acknowledge,
    mark_unreachable,
    on_deadline,
    on_unreachable,
    raised_to_emergency,
    reopen,
    start,
)
from bot.services.triage import URGENCIES


def p(post: int, reachable: bool = True, user: int | None = None) -> Person:
    return Person(post_id=post, user_id=post if user is None else user, reachable=reachable)


def ladder(village: Iterable[Person] = (), township: Iterable[Person] = (), county: Iterable[Person] = ()) -> Ladder:
    return Ladder((tuple(village), tuple(township), tuple(county)))


def posts(people: Iterable[Person]) -> list[int]:
    return [x.post_id for x in people]


FULL = ladder([p(1)], [p(2)], [p(3)])


# --- start -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("urgency", ["normal", "high"])
def test_normal_and_high_go_to_every_village_director_first(urgency: str) -> None:
    d = start(ladder([p(1), p(2)], [p(3)], [p(4)]), urgency)
    assert posts(d.notify) == [1, 2]
    assert d.notify_reason == "new"
    assert d.state == State(rung=0, notified=frozenset({1, 2}), acknowledged=False, at_admins=False, admin_reminders=0)
    assert not d.admins and not d.tell_reporter_call_hotline and d.moved_up_tell == ()


def test_emergency_notifies_every_reachable_person_on_all_rungs_at_once() -> None:
    d = start(ladder([p(1), p(2, reachable=False)], [p(3)], [p(4), p(5)]), "emergency")
    assert posts(d.notify) == [1, 3, 4, 5]
    assert d.notify_reason == "emergency_all_rungs"
    assert d.state.rung == 2
    assert d.state.notified == {1, 3, 4, 5}
    assert not d.admins


def test_emergency_with_an_empty_county_sits_at_the_township() -> None:
    d = start(ladder([p(1)], [p(2)], []), "emergency")
    assert posts(d.notify) == [1, 2]
    assert d.state.rung == 1


def test_an_empty_rung_is_skipped() -> None:
    d = start(ladder([], [p(2)], [p(3)]), "normal")
    assert posts(d.notify) == [2]
    assert d.state.rung == 1


def test_a_rung_where_nobody_is_reachable_is_skipped() -> None:
    d = start(ladder([p(1, reachable=False)], [], [p(3)]), "high")
    assert posts(d.notify) == [3]
    assert d.state.rung == 2


@pytest.mark.parametrize("urgency", URGENCIES)
@pytest.mark.parametrize(
    "nobody", [ladder(), ladder([p(1, reachable=False)], [], [p(3, reachable=False)])], ids=["empty", "unreachable"]
)
def test_nobody_reachable_tells_admins_and_the_reporter(urgency: str, nobody: Ladder) -> None:
    d = start(nobody, urgency)
    assert d.notify == ()
    assert d.notify_reason == "new"
    assert d.admins and d.tell_reporter_call_hotline
    assert d.state == State(rung=None, notified=frozenset(), acknowledged=False, at_admins=True, admin_reminders=1)


def test_unknown_urgency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown urgency 'urgent'"):
        start(FULL, "urgent")


def test_a_post_appears_once_on_a_ladder() -> None:
    with pytest.raises(ValueError, match="more than once"):
        ladder([p(1)], [p(1)])


# --- deadlines ---------------------------------------------------------------------------------------------------


def test_each_deadline_climbs_village_township_county_then_reminds_admins() -> None:
    d = start(FULL, "normal")
    assert d.state.rung == 0

    d = on_deadline(FULL, d.state)
    assert (posts(d.notify), d.notify_reason, posts(d.moved_up_tell)) == ([2], "escalated_deadline", [1])
    assert d.state.rung == 1 and d.state.notified == {1, 2} and not d.admins

    d = on_deadline(FULL, d.state)
    assert (posts(d.notify), d.notify_reason, posts(d.moved_up_tell)) == ([3], "escalated_deadline", [2])
    assert d.state.rung == 2 and d.state.notified == {1, 2, 3}

    for reminder in (1, 2, 3):
        d = on_deadline(FULL, d.state)
        assert d.admins and d.notify == () and d.moved_up_tell == ()
        assert d.notify_reason == "escalated_deadline"
        assert not d.tell_reporter_call_hotline
        # The county officer stays notified and may still acknowledge.
        assert d.state == State(
            rung=2, notified=frozenset({1, 2, 3}), acknowledged=False, at_admins=True, admin_reminders=reminder
        )


def test_a_county_with_nobody_goes_from_township_to_admins() -> None:
    lad = ladder([p(1)], [p(2)], [])
    d = on_deadline(lad, start(lad, "high").state)
    assert posts(d.notify) == [2]
    d = on_deadline(lad, d.state)
    assert d.admins and d.notify == ()
    assert d.state.rung == 1 and d.state.admin_reminders == 1


def test_a_deadline_skips_a_rung_whose_people_blocked_the_bot() -> None:
    lad = ladder([p(1), p(4)], [p(2, reachable=False)], [p(3)])
    d = on_deadline(lad, start(lad, "normal").state)
    assert posts(d.notify) == [3]
    assert posts(d.moved_up_tell) == [1, 4]
    assert d.state.rung == 2


def test_the_rung_left_is_told_only_about_its_reachable_people() -> None:
    lad = ladder([p(1), p(4)], [p(2)], [])
    state = start(lad, "normal").state
    lad = mark_unreachable(lad, 4)
    d = on_deadline(lad, state)
    assert posts(d.moved_up_tell) == [1]


def test_an_emergency_deadline_reminds_admins_straight_away() -> None:
    d = on_deadline(FULL, start(FULL, "emergency").state)
    assert d.admins and d.notify == ()
    assert d.state.admin_reminders == 1


def test_nobody_reachable_reminds_admins_at_every_deadline() -> None:
    d = start(ladder(), "normal")
    d = on_deadline(ladder(), d.state)
    assert d.admins and d.state.admin_reminders == 2
    assert not d.tell_reporter_call_hotline  # the reporter was told once, at the start


def test_a_post_filled_while_admins_hold_it_is_notified_at_the_next_deadline() -> None:
    d = start(ladder(), "normal")
    d = on_deadline(ladder([], [p(7)]), d.state)
    assert posts(d.notify) == [7] and not d.admins
    assert d.state.rung == 1 and not d.state.at_admins


# --- unreachable (403) -------------------------------------------------------------------------------------------


def test_the_only_village_director_blocking_the_bot_moves_it_up_at_once() -> None:
    lad = ladder([p(1)], [p(2)], [p(3)])
    d = on_unreachable(lad, start(lad, "normal").state, 1)
    assert posts(d.notify) == [2]
    assert d.notify_reason == "escalated_unreachable"
    assert d.moved_up_tell == ()  # nobody reachable is left on the village rung
    assert d.state.rung == 1 and d.state.notified == {1, 2}


def test_on_a_two_person_rung_the_other_person_still_holds_it() -> None:
    lad = ladder([p(1), p(4)], [p(2)], [p(3)])
    state = start(lad, "normal").state
    d = on_unreachable(lad, state, 1)
    assert d == Decision(state)
    # When the second one blocks too, it moves up.
    d = on_unreachable(mark_unreachable(lad, 1), state, 4)
    assert posts(d.notify) == [2] and d.state.rung == 1


def test_someone_not_holding_the_concern_blocking_the_bot_changes_nothing() -> None:
    state = start(FULL, "normal").state
    assert on_unreachable(FULL, state, 3) == Decision(state)


def test_the_answer_is_the_same_whether_or_not_the_ladder_was_already_updated() -> None:
    state = start(FULL, "normal").state
    assert on_unreachable(FULL, state, 1) == on_unreachable(mark_unreachable(FULL, 1), state, 1)


def test_the_same_403_twice_sends_nothing_new() -> None:
    d = on_unreachable(FULL, start(FULL, "normal").state, 1)
    again = on_unreachable(mark_unreachable(FULL, 1), d.state, 1)
    assert again == Decision(d.state)


def test_the_county_officer_blocking_the_bot_tells_admins_once() -> None:
    lad = ladder([], [], [p(3)])
    state = start(lad, "normal").state
    d = on_unreachable(lad, state, 3)
    assert d.admins and d.notify_reason == "escalated_unreachable"
    assert d.state.at_admins and d.state.admin_reminders == 1
    gone = mark_unreachable(lad, 3)
    assert on_unreachable(gone, d.state, 3) == Decision(d.state)
    # From then on the deadline reminds them.
    assert on_deadline(gone, d.state).state.admin_reminders == 2


def test_emergency_a_lower_rung_blocking_changes_nothing() -> None:
    state = start(FULL, "emergency").state
    assert on_unreachable(FULL, state, 1) == Decision(state)


def test_emergency_the_top_rung_blocking_tells_admins() -> None:
    d = on_unreachable(FULL, start(FULL, "emergency").state, 3)
    # Village and township still have it, but the current (county) rung is dark: the administrators are told.
    assert d.admins and d.notify == ()
    assert d.state.rung == 2 and d.state.at_admins


def test_a_post_filled_on_the_same_rung_is_tried_before_climbing() -> None:
    state = start(ladder([p(1)], [p(2)]), "normal").state
    d = on_unreachable(ladder([p(1), p(5)], [p(2)]), state, 1)
    assert posts(d.notify) == [5] and d.state.rung == 0
    assert d.notify_reason == "escalated_unreachable"


def test_blocking_the_bot_makes_all_that_users_posts_unreachable() -> None:
    lad = ladder([p(1, user=9)], [p(2, user=9)], [p(3)])
    d = on_unreachable(lad, start(lad, "normal").state, 1)
    assert posts(d.notify) == [3]
    assert [x.reachable for rung in mark_unreachable(lad, 1).rungs for x in rung] == [False, False, True]


# --- acknowledge -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("urgency", URGENCIES)
def test_acknowledging_stops_everything(urgency: str) -> None:
    state = acknowledge(start(FULL, urgency).state)
    assert state.acknowledged
    assert on_deadline(FULL, state) == Decision(state)
    for post in (1, 2, 3):
        assert on_unreachable(FULL, state, post) == Decision(state)
    assert on_deadline(ladder(), acknowledge(start(ladder(), urgency).state)).admins is False


# --- the property ------------------------------------------------------------------------------------------------


@st.composite
def ladders(draw: st.DrawFn) -> Ladder:
    # Reachability belongs to a user (they blocked the bot or not); a user may hold posts on several rungs.
    users_reachable = draw(st.lists(st.booleans(), min_size=6, max_size=6))
    post_ids = iter(range(1, 10))
    rungs = []
    for _ in range(3):
        users = draw(st.lists(st.integers(0, 5), max_size=3))
        rungs.append(tuple(Person(next(post_ids), u, users_reachable[u]) for u in users))
    return Ladder((rungs[0], rungs[1], rungs[2]))


events = st.lists(
    st.one_of(
        st.just(("deadline", 0)),
        st.just(("ack", 0)),
        st.just(("raise", 0)),
        st.tuples(st.just("unreachable"), st.integers(0, 8)),
        st.tuples(st.just("holder_leaves"), st.integers(0, 8)),
    ),
    max_size=15,
)


def _check(lad: Ladder, decision: Decision, before: State | None) -> None:
    state = decision.state
    reachable = {x.post_id for rung in lad.rungs for x in rung if x.reachable}
    everyone = {x.post_id for rung in lad.rungs for x in rung}
    # Only reachable people are sent anything, nobody twice, and only people on this ladder.
    assert all(x.post_id in reachable for x in decision.notify + decision.moved_up_tell)
    assert state.notified <= everyone
    if before is not None:
        assert not (set(posts(decision.notify)) & before.notified)
        assert state.notified >= before.notified
        if before.rung is not None:
            assert state.rung is not None and state.rung >= before.rung  # never climbs down
        if before.acknowledged:
            assert decision == Decision(before)
    if decision.admins:
        assert state.at_admins
    if state.acknowledged:
        return
    # The promise: while anyone is reachable, someone reachable has the concern; otherwise the admins have it.
    if reachable:
        assert state.notified & reachable
    else:
        assert state.at_admins
    # Stronger: someone reachable on the current rung holds it, or it waits on the admins because nobody
    # reachable is left above (so nobody reachable is ever only on a rung below with the rest silent).
    holders = set() if state.rung is None else {x.post_id for x in lad.rungs[state.rung]} & state.notified
    if not holders & reachable:
        assert state.at_admins
    if state.at_admins:
        above = range(0 if state.rung is None else state.rung + 1, 3)
        assert not any(lad.reachable(r) for r in above)


@settings(max_examples=500, database=None)
@given(lad=ladders(), urgency=st.sampled_from(URGENCIES), steps=events)
def test_a_concern_is_never_left_without_a_reachable_notified_person(
    lad: Ladder, urgency: str, steps: list[tuple[str, int]]
) -> None:
    decision = start(lad, urgency)
    _check(lad, decision, None)
    everyone = [x.post_id for rung in lad.rungs for x in rung]
    for kind, n in steps:
        before = decision.state
        if kind == "deadline":
            decision = on_deadline(lad, before)
        elif kind == "ack":
            decision = Decision(acknowledge(before))
        elif kind == "raise":
            decision = raised_to_emergency(lad, before)
        elif kind == "holder_leaves" and before.acknowledged and everyone:
            # Whoever took it up blocks the bot or deletes their data: it is open again for the others.
            post = everyone[n % len(everyone)]
            lad = mark_unreachable(lad, post)
            decision = reopen(lad, before)
            _check(lad, decision, None)
            assert not decision.state.acknowledged
            continue
        elif kind == "holder_leaves":
            continue
        elif everyone:
            post = everyone[n % len(everyone)]
            decision = on_unreachable(lad, before, post)
            lad = mark_unreachable(lad, post)
        _check(lad, decision, None if kind == "ack" else before)


def test_reopening_tells_the_others_already_on_the_rung_again() -> None:
    lad = ladder([p(1), p(2)], [p(3)], [])
    taken = acknowledge(start(lad, "normal").state)
    lad = mark_unreachable(lad, 1)  # the one who took it up leaves
    decision = reopen(lad, taken)
    assert posts(decision.notify) == [2] and not decision.state.acknowledged


def test_reopening_with_nobody_left_on_the_rung_climbs() -> None:
    lad = ladder([p(1)], [p(3)], [])
    taken = acknowledge(start(lad, "normal").state)
    decision = reopen(mark_unreachable(lad, 1), taken)
    assert posts(decision.notify) == [3] and decision.state.rung == 1


def test_reopening_with_nobody_at_all_tells_the_admins_even_if_told_before() -> None:
    lad = ladder([], [], [])
    decision = start(lad, "high")
    assert decision.state.at_admins
    decision = reopen(lad, acknowledge(decision.state))
    assert decision.admins and decision.state.admin_reminders == 2


def test_raised_to_an_emergency_every_rung_hears_it_at_once() -> None:
    lad = ladder([p(1)], [p(2)], [p(3)])
    decision = raised_to_emergency(lad, start(lad, "normal").state)
    assert posts(decision.notify) == [2, 3] and decision.state.rung == 2
