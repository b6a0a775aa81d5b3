"""Words for the domain's values (relations, posts, roles), marked for translation."""

from __future__ import annotations

from bot.i18n import N_, Tr
from bot.services.caseworker import PostView
from bot.services.household import HouseholdView

RELATION_LABELS = {
    "grandmother": N_("Grandmother"),
    "grandfather": N_("Grandfather"),
    "mother": N_("Mother"),
    "father": N_("Father"),
    "aunt": N_("Aunt"),
    "uncle": N_("Uncle"),
    "sibling": N_("Older brother or sister"),
    "neighbour": N_("Neighbour"),
    "other": N_("Other relative"),
}

# How someone outside the family knows the child they report about.
REPORTER_LABELS = {
    "neighbour": N_("Neighbour"),
    "teacher": N_("Teacher"),
    "relative": N_("Relative"),
    "village_staff": N_("Village staff"),
    "someone": N_("Someone else"),
}

POST_TITLES = {
    "village": N_("child director"),
    "township": N_("child welfare supervisor"),
    "county": N_("civil affairs officer for children"),
    "admin": N_("administrator"),
}

ROLE_LABELS = {
    "guardian": N_("Family carer"),
    "parent": N_("Parent working away"),
    "caseworker": N_("Caseworker"),
}


def relation(tr: Tr, key: str) -> str:
    return tr.gettext(RELATION_LABELS.get(key, RELATION_LABELS["other"]))


def reporter(tr: Tr, key: str) -> str:
    """Who reported: a family relation, or how an outsider knows the child."""
    if key in RELATION_LABELS:
        return relation(tr, key)
    return tr.gettext(REPORTER_LABELS.get(key, REPORTER_LABELS["someone"]))


def join(tr: Tr, items: list[str]) -> str:
    """A list as the language writes it: 奶奶、爸爸 / Grandmother, Father."""
    return ("、" if tr.locale == "zh_Hans" else ", ").join(items)


def post_title(tr: Tr, post: PostView) -> str:
    """'大塘镇示例一村儿童主任' / 'child director, Datang Town, ...'."""
    title = tr.gettext(POST_TITLES[post.level])
    if tr.locale == "zh_Hans":
        return f"{post.area_zh}{title}"
    return f"{title}, {post.area_en}"


def badge(tr: Tr, post: PostView) -> str:
    """Shown whenever the bot relays a caseworker's words, so an impostor cannot pass as an official."""
    return tr.gettext("✅ Verified: {post}").format(post=post_title(tr, post))


def village_line(tr: Tr, h: HouseholdView) -> str:
    if tr.locale == "zh_Hans":
        place = f"{h.township_zh}{h.village_zh}"
    else:
        place = f"{h.village_en}, {h.township_en}"
    return place
