"""The escalation ladder (DESIGN-NOTES §6) as a pure state machine: who is told about a concern, and when.

Rungs: 0 the village child director(s), 1 the township supervisor(s), 2 the county officer(s); any may be empty.
The caller (the concern service) builds a `Ladder` from the caseworker posts for the child's village, keeps the
`State` on the concern row, and turns each `Decision` into outbox messages in the same transaction. Nothing here
knows about Telegram, the database or the clock: "a deadline passed" and "a person blocked the bot" are events the
caller feeds in.

The promise the tests check for every sequence of events: while a concern is not acknowledged and anyone on the
ladder is reachable, some reachable person has been notified; when nobody is reachable, the administrators are.

Vocabulary:
- notified: every post the concern has been sent to, cumulative (so nobody is sent it twice).
- holders: the notified posts on the current rung, the people currently expected to act. For an emergency every
  rung was notified at once and the current rung is the highest of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.services.triage import URGENCIES

RUNGS = 3  # village, township, county

# Decision.notify_reason values (stable keys for the renderer and the timeline).
NEW = "new"
ESCALATED_DEADLINE = "escalated_deadline"
ESCALATED_UNREACHABLE = "escalated_unreachable"
EMERGENCY_ALL_RUNGS = "emergency_all_rungs"
REOPENED = "reopened"
RAISED = "raised"
NOTHING = ""  # the decision changes nothing and sends nothing


@dataclass(frozen=True)
class Person:
    """A caseworker post; `reachable` is False once its user has blocked the bot (Telegram answered 403)."""

    post_id: int
    user_id: int
    reachable: bool


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[tuple[Person, ...], tuple[Person, ...], tuple[Person, ...]]
    # Whatever the loader read along (database rows), held while the ladder is in use; no part of a decision.
    held: tuple[object, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.rungs) != RUNGS:
            raise ValueError(f"a ladder has {RUNGS} rungs, not {len(self.rungs)}")
        posts = [p.post_id for rung in self.rungs for p in rung]
        if len(posts) != len(set(posts)):
            raise ValueError("a post appears more than once on the ladder")

    def reachable(self, rung: int) -> tuple[Person, ...]:
        return tuple(p for p in self.rungs[rung] if p.reachable)

    def anyone_reachable(self) -> bool:
        return any(self.reachable(r) for r in range(RUNGS))


@dataclass(frozen=True)
class State:
    """What the concern row must remember between events.

    rung: the current rung, or None when nobody on the ladder could be reached at the start.
    at_admins: the concern waits on the administrators (nobody reachable above the current rung).
    admin_reminders: how many times the administrators have been told (the first alert included), so the
    caller can build a distinct outbox dedupe key for each.
    """

    rung: int | None
    notified: frozenset[int]
    acknowledged: bool
    at_admins: bool
    admin_reminders: int


@dataclass(frozen=True)
class Decision:
    """The new state and whom to tell.

    notify: people to send the concern to now (never someone already notified), for `notify_reason`.
    moved_up_tell: people on the rung just left, to tell them the concern moved up.
    admins: tell (or remind) the administrators, for `notify_reason`.
    tell_reporter_call_hotline: nobody can be reached, so the reporter is told plainly to call the hotline shown.
    """

    state: State
    notify: tuple[Person, ...] = ()
    notify_reason: str = NOTHING
    moved_up_tell: tuple[Person, ...] = ()
    admins: bool = False
    tell_reporter_call_hotline: bool = False


def start(ladder: Ladder, urgency: str) -> Decision:
    """A new concern: the lowest rung with someone reachable, or for an emergency everyone reachable at once."""
    if urgency not in URGENCIES:
        raise ValueError(f"unknown urgency {urgency!r}")
    if not ladder.anyone_reachable():
        state = State(rung=None, notified=frozenset(), acknowledged=False, at_admins=True, admin_reminders=1)
        return Decision(state, notify_reason=NEW, admins=True, tell_reporter_call_hotline=True)
    reached = [r for r in range(RUNGS) if ladder.reachable(r)]
    if urgency == "emergency":
        people = tuple(p for r in reached for p in ladder.reachable(r))
        # The highest notified rung, not merely the highest non-empty one: the current rung must hold someone
        # reachable, or a later 403 from the top could go unnoticed while its people were never reachable.
        rung, reason = reached[-1], EMERGENCY_ALL_RUNGS
    else:
        rung, reason = reached[0], NEW
        people = ladder.reachable(rung)
    state = State(
        rung=rung,
        notified=frozenset(p.post_id for p in people),
        acknowledged=False,
        at_admins=False,
        admin_reminders=0,
    )
    return Decision(state, notify=people, notify_reason=reason)


def on_deadline(ladder: Ladder, state: State) -> Decision:
    """The acknowledgement deadline passed: climb to the next rung with someone reachable, else remind admins.

    The caller sets the next deadline (same urgency) after every decision until the concern is acknowledged.
    """
    if state.acknowledged:
        return Decision(state)
    return _climb(ladder, state, ESCALATED_DEADLINE, remind_admins=True)


def mark_unreachable(ladder: Ladder, post_id: int) -> Ladder:
    """The ladder once the user holding `post_id` blocked the bot: all of that user's posts become unreachable."""
    users = {p.user_id for rung in ladder.rungs for p in rung if p.post_id == post_id}

    def mark(rung: tuple[Person, ...]) -> tuple[Person, ...]:
        return tuple(replace(p, reachable=False) if p.user_id in users else p for p in rung)

    village, township, county = ladder.rungs
    return Ladder((mark(village), mark(township), mark(county)))


def on_unreachable(ladder: Ladder, state: State, post_id: int) -> Decision:
    """The user on `post_id` blocked the bot. If no holder is reachable any more, fail over at once.

    `ladder` may be given before or after that user was marked unreachable: it is marked here either way (so a
    caller that already stored the flag and reloaded the ladder gets the same answer). To keep the updated
    ladder for later events, call `mark_unreachable` too. Calling this twice for the same post sends nothing new.

    Failover order: someone reachable on the current rung not yet notified (a post filled since), else the next
    rung up with someone reachable, else the administrators (once; afterwards they are reminded at deadlines).
    """
    ladder = mark_unreachable(ladder, post_id)
    if state.acknowledged:
        return Decision(state)
    return _failover(ladder, state, remind_admins=not state.at_admins)


def raised_to_emergency(ladder: Ladder, state: State) -> Decision:
    """An open concern became an emergency (new information): everyone reachable not yet told is told now."""
    if state.acknowledged:
        return Decision(state)
    reached = [r for r in range(RUNGS) if ladder.reachable(r)]
    if not reached:
        return Decision(state)  # nobody on the ladder: the administrators already hold it
    people = tuple(p for r in reached for p in ladder.reachable(r) if p.post_id not in state.notified)
    if not people:
        return Decision(state)  # everyone reachable already has it
    new_ids = {p.post_id for p in people}
    top = max(r for r in reached if any(p.post_id in new_ids for p in ladder.rungs[r]))
    notified = state.notified | new_ids
    if state.rung is None or top >= state.rung:
        # Someone reachable newly holds it on the highest rung told: it no longer waits on the administrators.
        new = replace(state, rung=top, notified=notified, at_admins=False)
    else:
        new = replace(state, notified=notified)
    return Decision(new, notify=people, notify_reason=RAISED)


def reopen(ladder: Ladder, state: State) -> Decision:
    """A taken-up concern whose holder can no longer be reached (blocked the bot, left) is open again.

    The reachable people already notified on the current rung are told again (they were told it was taken
    up); with none, it fails over as for an unreachable holder. `ladder` must already mark the leaver.
    """
    state = replace(state, acknowledged=False)
    if state.rung is not None:
        again = tuple(p for p in ladder.reachable(state.rung) if p.post_id in state.notified)
        if again:
            return Decision(state, notify=again, notify_reason=REOPENED)
    return _failover(ladder, state, remind_admins=True)  # the administrators are told even if told before


def _failover(ladder: Ladder, state: State, *, remind_admins: bool) -> Decision:
    if state.rung is not None:
        holders = [p for p in ladder.rungs[state.rung] if p.post_id in state.notified]
        if any(p.reachable for p in holders):
            return Decision(state)
        fresh = tuple(p for p in ladder.reachable(state.rung) if p.post_id not in state.notified)
        if fresh:
            notified = state.notified | {p.post_id for p in fresh}
            return Decision(replace(state, notified=notified), notify=fresh, notify_reason=ESCALATED_UNREACHABLE)
    return _climb(ladder, state, ESCALATED_UNREACHABLE, remind_admins=remind_admins)


def acknowledge(state: State) -> State:
    return replace(state, acknowledged=True)


def _climb(ladder: Ladder, state: State, reason: str, *, remind_admins: bool) -> Decision:
    """Move to the next rung above the current one with someone reachable; with none, tell the administrators."""
    below = -1 if state.rung is None else state.rung
    for rung in range(below + 1, RUNGS):
        people = tuple(p for p in ladder.reachable(rung) if p.post_id not in state.notified)
        if people:
            left = () if state.rung is None else ladder.rungs[state.rung]
            tell = tuple(p for p in left if p.reachable and p.post_id in state.notified)
            new = replace(
                state,
                rung=rung,
                notified=state.notified | {p.post_id for p in people},
                at_admins=False,  # a caseworker holds it again; admin reminders stop
            )
            return Decision(new, notify=people, notify_reason=reason, moved_up_tell=tell)
    if not remind_admins:
        return Decision(state)
    new = replace(state, at_admins=True, admin_reminders=state.admin_reminders + 1)
    return Decision(new, notify_reason=reason, admins=True)
