"""Answering from the library: a labelled set of real-sounding questions (half Chinese, typos included) finds
the right frequent question among the best three for at least 80%."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.services import library, retrieval

LABELLED = Path(__file__).parent / "data" / "questions.toml"


def test_the_right_answer_is_in_the_best_three_for_at_least_80_percent(capsys) -> None:  # type: ignore[no-untyped-def]
    questions = tomllib.loads(LABELLED.read_text(encoding="utf-8"))["question"]
    lib = library.library()
    assert len(questions) >= 40
    hits = {"zh": 0, "en": 0}
    counts = {"zh": 0, "en": 0}
    for q in questions:
        assert lib.faq(q["expect"]) is not None, q["expect"]
        counts[q["lang"]] += 1
        hits[q["lang"]] += q["expect"] in [h.id for h in retrieval.search(q["text"])]
    rate = sum(hits.values()) / sum(counts.values())
    with capsys.disabled():
        print(
            f"\nretrieval: {sum(hits.values())}/{sum(counts.values())} in the best three ({rate:.0%}); "
            f"zh {hits['zh']}/{counts['zh']}, en {hits['en']}/{counts['en']}"
        )
    assert rate >= 0.8
    assert hits["zh"] / counts["zh"] >= 0.8 and hits["en"] / counts["en"] >= 0.7


def test_nothing_is_found_in_empty_or_foreign_input() -> None:
    assert retrieval.search("") == []
    assert retrieval.search("!!! ???") == []
    assert retrieval.search("xqzv wplk") == []


def test_full_width_and_case_do_not_matter() -> None:
    a = retrieval.search("ＭＹ GRANDSON PLAYS PHONE GAMES ALL NIGHT")
    b = retrieval.search("my grandson plays phone games all night")
    assert [h.id for h in a] == [h.id for h in b]
