"""The danger-phrase screen: every category in both languages, the way people really type, the everyday words that
must not raise an alarm, negations, seriousness, the phrases file's checks, and speed on a long message."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.services.screening import (
    CATEGORIES,
    DEFAULT_PHRASES,
    SERIOUSNESS,
    Hit,
    Phrases,
    PhrasesError,
    default_phrases,
    load_phrases,
    normalise,
    screen,
)


@pytest.fixture(scope="module")
def phrases() -> Phrases:
    return load_phrases()


def category(text: str, phrases: Phrases) -> str | None:
    hit = screen(text, phrases)
    return hit.category if hit else None


# -- the shipped file --------------------------------------------------------------------------------------------


def test_shipped_file_validates_and_covers_every_category(phrases: Phrases) -> None:
    assert DEFAULT_PHRASES.is_file()
    assert set(phrases.by_category) == set(CATEGORIES)
    for key, listed in phrases.by_category.items():
        assert any(not p.isascii() for p in listed), f"{key} has no Chinese phrases"
        assert any(p.isascii() for p in listed), f"{key} has no English phrases"
    assert default_phrases() is default_phrases()  # loaded once


def test_seriousness_is_an_order_of_the_categories() -> None:
    assert sorted(SERIOUSNESS) == sorted(CATEGORIES)
    assert SERIOUSNESS[:3] == ("danger_now", "sexual_abuse", "self_harm")


def test_categories_agree_with_the_concern_policy() -> None:
    triage = pytest.importorskip("bot.services.triage")
    assert triage.CATEGORIES == CATEGORIES


# -- every category, in both languages ---------------------------------------------------------------------------

HITS = [
    ("danger_now", "快来人啊，孙子掉进塘里了"),
    ("danger_now", "孩子喝了农药，现在叫不醒"),
    ("danger_now", "屋里着火了，娃还在里面"),
    ("danger_now", "My grandson fell into the river, please help"),
    ("danger_now", "she is not breathing"),
    ("sexual_abuse", "邻居老头摸孩子下面，孩子不敢说"),
    ("sexual_abuse", "有人在网上叫我女儿发裸照"),
    ("sexual_abuse", "I think her uncle molested her"),
    ("self_harm", "孩子跟我说活着没意思，想死"),
    ("self_harm", "孙女手上有划痕，她说是自己用刀划的，她说不想活了"),
    ("self_harm", "My son said he wants to kill himself"),
    ("missing", "孩子放学到现在还没回家，找不到孩子"),
    ("missing", "我家崽走丢了"),
    ("missing", "Our daughter went missing this afternoon"),
    ("violence", "他爸喝醉了就用棍子打孩子"),
    ("violence", "孩子身上都是伤，说是被继父打的"),
    ("violence", "孩子遭打了，打得好凶"),
    ("violence", "Her stepfather beats the kids every week"),
    ("left_alone", "爷爷奶奶都住院了，孩子一个人在家没人照顾"),
    ("left_alone", "那两个娃没得人管，天天饿肚子"),
    ("left_alone", "The children are home alone and nobody looking after them"),
    ("injury_illness", "孩子发高烧好几天了，还抽筋"),
    ("injury_illness", "孙子摔断了手，流血不止"),
    ("injury_illness", "He has had a high fever since Monday"),
    ("bullying", "孩子在学校被欺负，被同学打"),
    ("bullying", "高年级的收保护费"),
    ("bullying", "My daughter is being bullied at school"),
    ("not_in_school", "孩子不肯去上学，已经一个星期了"),
    ("not_in_school", "他初二就辍学了"),
    ("not_in_school", "He dropped out of school last term"),
    ("other", "那个人给孩子买零食，还说不准告诉大人"),
    ("other", "The man told her it was our little secret"),
]


@pytest.mark.parametrize(("expected", "text"), HITS)
def test_each_category_hits(phrases: Phrases, expected: str, text: str) -> None:
    assert category(text, phrases) == expected


def test_every_category_has_a_zh_and_an_en_example() -> None:
    covered = {(key, text.isascii()) for key, text in HITS}
    assert covered == {(key, ascii_) for key in CATEGORIES for ascii_ in (True, False)}


def test_the_hit_names_the_phrase_as_written(phrases: Phrases) -> None:
    hit = screen("他天天打孙子", phrases)
    assert hit == Hit(category="violence", phrase="打孙子", categories=("violence",))
    assert screen("She was bullied again", phrases) == Hit("bullying", "bulli*", ("bullying",))


def test_default_phrases_are_used_when_none_are_given() -> None:
    assert screen("孩子掉水里了") == Hit("danger_now", "掉水里", ("danger_now",))


# -- the way people type -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "想 死",
        "想死。。。",
        "想，死",
        "想　死",  # ideographic space
        "想\u200b死",  # zero-width space pasted in
        "想~死😭",
        "孩子说：“想死！”",
    ],
)
def test_spaces_and_punctuation_between_characters_do_not_hide_a_phrase(phrases: Phrases, text: str) -> None:
    assert category(text, phrases) == "self_harm"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ｉ ｗａｎｔ ｔｏ ｄｉｅ", "self_harm"),  # full-width letters
        ("I WANT TO DIE", "self_harm"),
        ("i  want   to\ndie", "self_harm"),
        ("I don’t want to live anymore", "self_harm"),  # curly apostrophe
        ("I dont want to live", "self_harm"),
        ("孩子打１１０了", "danger_now"),  # full-width digits
        ("孩子被強姦了", "sexual_abuse"),  # traditional characters
        ("我想殺了自己", "self_harm"),
        ("Self-harm", "self_harm"),
        ("他是不是被人猥褻了？", "sexual_abuse"),
    ],
)
def test_width_case_and_variants(phrases: Phrases, text: str, expected: str) -> None:
    assert category(text, phrases) == expected


def test_normalise_joins_chinese_and_keeps_one_space_between_english_words(phrases: Phrases) -> None:
    assert normalise("想 死。。。 I   Don't  know！", phrases) == "想死i don t know"
    assert normalise("打 １２０", phrases) == "打120"


def test_english_phrases_match_whole_words_only(phrases: Phrases) -> None:
    assert screen("The therapist said he is doing well", phrases) is None  # not "rapist"
    assert screen("I teach that skill myself", phrases) is None  # not "kill myself"
    assert category("They bullied him", phrases) == "bullying"  # a "*" phrase takes the ending


# -- what must not raise an alarm --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "打电话给孩子",
        "带孩子去打疫苗",
        "孩子在打游戏",
        "给孩子打针",
        "我给孩子打了电话，他说作业写完了",
        "打孩子电话打不通",  # 打孩子电话 = phoning the child
        "我打孩子妈妈的电话",
        "孩子打喷嚏",
        "孩子爱打扮，我把孩子打扮得漂漂亮亮",
        "爷爷去地里打农药了",
        "奶奶想死你了",  # "missed you terribly"
        "想你想死了",
        "累死我了，热死了",
        "打死我也不去",
        "他爸三年没回家了",
        "过年没回家",
        "商店跳楼价大甩卖",
        "学校发了防溺水安全教育通知",
        "不想被打扰",
        "孩子被踢出群了",
        "外婆腿脚不好，走不动了",
        "周末不上学",
        "孩子感冒了有点咳嗽",
        "孩子不爱吃青菜怎么办",
        "he hit a home run",
        "I called my son yesterday",
        "she is missing her mum a lot",
        "my grandson beat me at chess",
        "what time should children go to bed",
    ],
)
def test_everyday_words_do_not_hit(phrases: Phrases, text: str) -> None:
    assert screen(text, phrases) is None


def test_a_benign_expression_split_by_punctuation_still_hits(phrases: Phrases) -> None:
    # 打孩子电话 is phoning; "打孩子，电话也不接" is hitting the child and not answering the phone.
    assert category("他打孩子，电话也不接", phrases) == "violence"


# -- negations ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # Decision: "我不想死" ("I don't want to die") is NOT read as 想死. The brief says 不想死 is not 想死, and a
        # child afraid for their life nearly always says why (他要打死我, 救命), which hits on its own: see below.
        "我不想死",
        "我没想死，就是有点累",
        "他不想自杀",  # 自杀 inside the negated 想自杀 goes too
        "I don't want to die",
        "He doesn't want to die",
        "孩子没发高烧",
        "孩子没有落水，在家呢",
        "孩子没走丢，在外婆家",
    ],
)
def test_a_negation_switches_a_phrase_off(phrases: Phrases, text: str) -> None:
    assert screen(text, phrases) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("孩子会不会想不开", "self_harm"),  # a worried question, not a denial
        ("孩子是不是想死", "self_harm"),
        ("想不想死", "self_harm"),
        ("孩子有没有落水", "danger_now"),
        ("不，想死", "self_harm"),  # punctuation: the 不 answers something else
        ("我跟他说别想不开", "self_harm"),  # 别 is a plea, never a negation
        ("他说没被打，可是身上都是伤", "violence"),  # denials of abuse are not negations
        ("孩子说没被欺负", "bullying"),
        ("我不想死了，活着没意思", "self_harm"),  # another phrase in the same message
        ("他要打死我，我不想死", "violence"),
        ("I never said I want to die, but I want to die", "self_harm"),
    ],
)
def test_questions_pleas_and_denials_still_hit(phrases: Phrases, text: str, expected: str) -> None:
    assert category(text, phrases) == expected


# -- seriousness -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("孩子被打了，还掉水里了", ("danger_now", "violence")),
        ("孩子被强奸了，现在昏迷", ("danger_now", "sexual_abuse")),
        ("继父打孩子，还摸孩子下面", ("sexual_abuse", "violence")),
        ("孩子被同学打，说不想活了", ("self_harm", "bullying")),
        ("孩子离家出走了，之前一直被打", ("missing", "violence")),
        ("没人管，天天逃学", ("left_alone", "not_in_school")),
        ("He was bullied and dropped out", ("bullying", "not_in_school")),
    ],
)
def test_the_most_serious_category_comes_first(phrases: Phrases, text: str, expected: tuple[str, ...]) -> None:
    hit = screen(text, phrases)
    assert hit is not None
    assert hit.categories == expected
    assert hit.category == expected[0]


def test_a_phrase_listed_under_two_categories_reports_both(phrases: Phrases) -> None:
    hit = screen("孩子喝了农药", phrases)
    assert hit is not None
    assert hit.categories == ("danger_now", "self_harm")


# -- the file's checks -------------------------------------------------------------------------------------------


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "phrases.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_small_valid_file_with_placeholders_negation_and_benign(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [placeholders]
        child = ["孩子", "娃"]

        [negation]
        categories = ["self_harm"]
        zh = ["不"]

        [benign]
        zh = ["打{child}电话"]

        [violence]
        zh = ["打{child}"]
        en = ["hit*"]

        [self_harm]
        zh = ["想死"]
        """,
    )
    phrases = load_phrases(path)
    assert phrases.by_category["violence"] == ("打孩子", "打娃", "hit*")
    assert screen("他打娃", phrases) == Hit("violence", "打娃", ("violence",))
    assert screen("打娃电话", phrases) is None
    assert screen("hitting", phrases) is not None
    assert screen("不想死", phrases) is None
    assert screen("掉水里", phrases) is None  # categories left out of a file are simply not screened


def test_a_broken_file_lists_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [placeholders]
        child = []

        [negation]
        categories = ["danger_now", "sadness"]

        [benign]
        zh = ["打孩子吧"]

        [variants]
        "殺" = "杀了"
        "死" = "死"

        [violence]
        zh = ["打孩子", "", 3, "kick", "打{kid}", "打{child", "打孩子吧"]
        en = "hit"
        colour = ["red"]

        [self_harm]
        zh = []
        en = ["想死", "ki*ll"]

        [sadness]
        zh = ["难过"]
        """,
    )
    with pytest.raises(PhrasesError) as caught:
        load_phrases(path)
    problems = caught.value.problems
    expected = [
        "[sadness]: unknown category",
        "[variants]: '殺' = '杀了' must map one character to one character",
        "[variants]: '死' maps to itself",
        "[placeholders].child: must not be empty",
        "[violence]: unknown key 'colour'",
        "[violence].zh[1]: must be a non-empty string",
        "[violence].zh[2]: must be a non-empty string, got 3",
        "[violence].zh: 'kick' has no Chinese characters",
        "[violence].zh: '打{kid}' uses unknown placeholder(s) kid",
        "[violence].zh: '打{child' has a stray brace",
        "[violence].en: must be a list of strings",
        "[self_harm].en: '想死' has Chinese characters",
        "[self_harm].en: 'ki*ll' may only end in '*'",
        "[self_harm]: has no phrases",
        "[negation].categories: unknown category 'sadness'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), f"missing {start!r} in {problems}"
    assert len(problems) == len(expected)
    assert str(path) in str(caught.value)
    assert "15 problem(s)" in str(caught.value)


def test_a_phrase_swallowed_by_a_benign_expression_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [benign]
        zh = ["被打扰"]

        [violence]
        zh = ["被打", "被打扰"]
        """,
    )
    with pytest.raises(PhrasesError) as caught:
        load_phrases(path)
    assert caught.value.problems == ("[violence]: '被打扰' never hits (a [benign] expression contains it)",)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[violence\nzh = [")
    with pytest.raises(PhrasesError, match="not valid TOML"):
        load_phrases(path)


# -- speed and side effects --------------------------------------------------------------------------------------


def test_a_long_message_is_screened_quickly_and_a_late_phrase_is_found(phrases: Phrases) -> None:
    filler = "今天天气不错，孩子在家写作业，晚上吃了饭。We had rice and vegetables for dinner. "
    text = (filler * 80)[:4000] + "孩子说想死"
    assert len(text) > 4000
    hit = screen(text, phrases)
    assert hit is not None and hit.category == "self_harm"
    assert screen("想死" * 2000, phrases) is not None  # every position a hit: still linear
    assert screen("hit " * 1000, phrases) is None


def test_nothing_is_logged(phrases: Phrases, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        screen("孩子说想死", phrases)
        screen("nothing here", phrases)
    assert caplog.records == []


def test_the_module_needs_neither_telegram_nor_the_database() -> None:
    code = (
        "import sys, bot.services.screening as s; s.screen('想死'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('telegram', 'db', 'sqlalchemy', 'logging')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
