"""Video-call prompts: the shipped file, its checks, the age bands and the deterministic rotation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bot.services.prompts import (
    AGE_BANDS,
    DEFAULT_PROMPTS,
    EN_MAX,
    MIN_PER_BAND,
    ZH_MAX,
    Prompt,
    PromptsError,
    band,
    load_prompts,
    pick,
    prompts,
)

AGE_OF = {"0-2": 1, "3-5": 4, "6-11": 8, "12-17": 15}  # one age inside each band


@pytest.fixture(scope="module")
def shipped() -> tuple[Prompt, ...]:
    return load_prompts()


def _in_band(pool: tuple[Prompt, ...], name: str) -> list[Prompt]:
    return [p for p in pool if name in p.ages]


def test_shipped_prompts_load(shipped: tuple[Prompt, ...]) -> None:
    assert DEFAULT_PROMPTS.is_file()
    assert prompts() == shipped
    assert len(shipped) >= 36
    assert len({p.id for p in shipped}) == len(shipped)
    for name in AGE_BANDS:
        assert len(_in_band(shipped, name)) >= MIN_PER_BAND, name


def test_shipped_texts_are_short_and_filled(shipped: tuple[Prompt, ...]) -> None:
    for p in shipped:
        assert 0 < len(p.zh) <= ZH_MAX, p.id
        assert 0 < len(p.en) <= EN_MAX, p.id
        assert p.text("zh_Hans") == p.zh and p.text("en") == p.en
        assert p.ages and p.ages <= set(AGE_BANDS)


def test_grandparent_prompts_serve_every_age(shipped: tuple[Prompt, ...]) -> None:
    carers = [p for p in shipped if p.id.startswith("grandparent-")]
    assert len(carers) >= 3
    assert all(p.ages == set(AGE_BANDS) for p in carers)


def test_a_call_is_never_only_about_the_grandparent(shipped: tuple[Prompt, ...]) -> None:
    # pick() shows neighbours in file order, so two grandparent prompts next to each other (counting round the end)
    # would give some calls nothing to do with the child.
    for name in AGE_BANDS:
        fit = _in_band(shipped, name)
        for i, p in enumerate(fit):
            after = fit[(i + 1) % len(fit)]
            assert not (p.id.startswith("grandparent-") and after.id.startswith("grandparent-")), (name, p.id)


def test_no_unkeepable_promises(shipped: tuple[Prompt, ...]) -> None:
    # "I'll be home soon" is the classic one: a child who counts on it and is let down trusts the next call less.
    for p in shipped:
        assert not any(w in p.zh for w in ("保证", "答应你", "早点回", "很快回", "马上回")), p.id
        assert not any(w in p.en.lower() for w in ("promise", "home soon", "back soon")), p.id


def test_text_for_an_unknown_locale(shipped: tuple[Prompt, ...]) -> None:
    with pytest.raises(ValueError, match="no prompt text for locale 'fr'"):
        shipped[0].text("fr")


def _broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prompts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_broken_file_lists_every_problem_at_once(tmp_path: Path) -> None:
    text = DEFAULT_PROMPTS.read_text(encoding="utf-8")
    text = text.replace('id = "riddles"', 'id = "one-friend"')  # duplicate id
    text = text.replace('ages = ["0-2"]\nzh = "把脸', 'ages = ["0-3"]\nzh = "把脸')  # unknown band
    text = text.replace('id = "peekaboo"', 'id = "peekaboo"\ncolour = "red"')  # unknown field
    text = text.replace('en = "Tell a short story and stop halfway to ask: “What do you think happens next?”"\n', "")
    text = text.replace('zh = "先问：', 'zh = "' + "很" * 80 + "先问：")  # too long
    text = text.replace('zh = "学小动物叫：小狗汪汪、小猫喵喵、小鸡叽叽，让孩子跟着学或者猜一猜。"', 'zh = "  "')
    text = text.replace('id = "plans-for-later"', 'id = "Plans For Later"')
    text = "show_before_minutes = 30\n" + text  # before the first [[prompt]], or it would belong to that block
    with pytest.raises(PromptsError) as caught:
        load_prompts(_broken(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'prompts.toml'}: 8 problem(s) in the call prompts:")
    assert "unknown setting 'show_before_minutes'" in message
    assert "prompt 'one-friend': id is used more than once" in message
    assert "prompt 'face-close-to-the-camera': age band '0-3' is not one of 0-2, 3-5, 6-11, 12-17" in message
    assert "prompt 'peekaboo': unknown field 'colour'" in message
    assert "prompt 'story-what-happens-next': en is missing" in message
    assert f"prompt 'best-thing-today': zh is {80 + 29} characters long; at most 60 are allowed" in message
    assert "prompt 'animal-sounds': zh is empty" in message
    assert '[[prompt]] #43: id must be lower-case words joined by "-"' in message


def test_too_few_prompts_for_a_band(tmp_path: Path) -> None:
    block = '[[prompt]]\nid = "p{i}"\nages = {ages}\nzh = "问问孩子。"\nen = "Ask your child."\n\n'
    text = "".join(block.format(i=i, ages='["0-2", "3-5", "6-11"]' if i < 7 else '["12-17"]') for i in range(15))
    with pytest.raises(PromptsError) as caught:
        load_prompts(_broken(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'prompts.toml'}: 3 problem(s)")
    for name in ("0-2", "3-5", "6-11"):
        assert f"age band {name!r} has 7 prompt(s); at least 8 are needed" in message


def test_more_mistakes(tmp_path: Path) -> None:
    text = """
[[prompt]]
ages = "3-5"
zh = "Ask about a friend"
en = 42

[[prompt]]
id = "twice"
ages = ["6-11", "6-11"]
zh = "问问孩子的朋友。"
en = "Ask about a friend."
"""
    with pytest.raises(PromptsError) as caught:
        load_prompts(_broken(tmp_path, text))
    message = str(caught.value)
    assert "[[prompt]] #1: id is missing" in message
    assert "[[prompt]] #1: ages must be a list such as" in message
    assert "[[prompt]] #1: en must be text in quotes, not 42" in message
    assert "[[prompt]] #1: zh has no Chinese characters" in message
    assert "prompt 'twice': age band '6-11' is listed twice" in message
    for name in AGE_BANDS:
        assert f"age band {name!r} has 0 prompt(s)" in message


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(PromptsError, match="cannot read the call prompts"):
        load_prompts(tmp_path / "absent.toml")
    with pytest.raises(PromptsError, match="not valid TOML") as caught:
        load_prompts(_broken(tmp_path, "[[prompt]]\nid = \n"))
    assert str(caught.value).startswith(str(tmp_path / "prompts.toml"))
    with pytest.raises(PromptsError, match="prompts must be"):
        load_prompts(_broken(tmp_path, 'prompt = "hello"\n'))


EDGES = [(0, "0-2"), (2, "0-2"), (3, "3-5"), (5, "3-5"), (6, "6-11"), (11, "6-11"), (12, "12-17"), (17, "12-17")]


@pytest.mark.parametrize(("age", "expected"), [*EDGES, (18, "12-17"), (40, "12-17")])
def test_band_edges(age: int, expected: str) -> None:
    assert band(age) == expected


def test_band_rejects_negative_ages() -> None:
    with pytest.raises(ValueError, match="negative"):
        band(-1)


@pytest.mark.parametrize("name", AGE_BANDS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_pick_is_deterministic_distinct_and_age_fit(shipped: tuple[Prompt, ...], name: str, n: int) -> None:
    age = AGE_OF[name]
    for seed in range(50):
        chosen = pick(age, n, seed)
        assert chosen == pick(age, n, seed, pool=shipped)
        assert len(chosen) == n and len({p.id for p in chosen}) == n
        assert all(name in p.ages for p in chosen)


@pytest.mark.parametrize("name", AGE_BANDS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_consecutive_seeds_rotate_through_the_whole_pool(shipped: tuple[Prompt, ...], name: str, n: int) -> None:
    fit = _in_band(shipped, name)
    rounds = math.ceil(len(fit) / n)
    shown = [p.id for seed in range(rounds) for p in pick(AGE_OF[name], n, seed)]
    assert set(shown) == {p.id for p in fit}
    # The next call never repeats the previous one.
    for seed in range(3 * rounds):
        assert not {p.id for p in pick(AGE_OF[name], n, seed)} & {p.id for p in pick(AGE_OF[name], n, seed + 1)}


def test_pick_limits(shipped: tuple[Prompt, ...]) -> None:
    size = len(_in_band(shipped, "0-2"))
    assert len(pick(1, size, seed=7)) == size
    assert pick(1, 0, seed=7) == []
    with pytest.raises(ValueError, match=f"cannot pick {size + 1} prompt"):
        pick(1, size + 1, seed=7)
    with pytest.raises(ValueError, match="cannot pick -1"):
        pick(1, -1, seed=7)
    with pytest.raises(ValueError, match="negative"):
        pick(-1, 2, seed=7)


def test_pick_from_a_small_pool() -> None:
    pool = tuple(Prompt(id=f"p{i}", ages=frozenset({"6-11"}), zh="问", en="Ask") for i in range(5))
    teen = Prompt(id="teen", ages=frozenset({"12-17"}), zh="问", en="Ask")
    pool = (*pool[:2], teen, *pool[2:])
    assert [p.id for p in pick(8, 2, 0, pool)] == ["p0", "p1"]
    assert [p.id for p in pick(8, 2, 1, pool)] == ["p2", "p3"]
    assert [p.id for p in pick(8, 2, 2, pool)] == ["p4", "p0"]  # wraps round
    assert [p.id for p in pick(15, 1, 99, pool)] == ["teen"]
    assert pick(1, 0, 0, pool) == []
