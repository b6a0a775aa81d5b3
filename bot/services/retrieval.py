"""Answering a question from the library, locally: no external service sees what a family asks.

Each frequent question and each tip is a document: for a frequent question its question, the other ways
people say it, and its answer; for a tip its text. Documents and questions are compared as TF-IDF vectors
(scikit-learn). Chinese: characters and pairs and triples of them, which needs no word segmentation and
forgives a wrong character (it spoils two or three n-grams, not the whole question). English: words and
word pairs (common words left out) plus n-grams within words, which forgive typos ("swiming") and endings
("sleeping"). One index per language. A frequent question is written as an answer to a question, so it
counts a little more than a tip.

Measured on `tests/data/questions.toml` (100 real-sounding questions, half of them Chinese, typos included):
see `tests/test_retrieval.py`, which prints the hit rate, and `bench/retrieval.py` for the latency.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.services import library as lib

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

FAQ_BOOST = 1.6  # a frequent question answers a question; a tip is advice that may only touch on it
MIN_SCORE = 0.08  # below this nothing in the library is about the question
# Words in nearly every English question to this bot: they say nothing about which answer fits.
COMMON_WORDS = frozenset(
    "grandson granddaughter grandkids grandkid grandchild grandchildren kid kids child children son daughter "
    "year years old yo im dont doesnt cant wont isnt help please should".split()
)


MIN_WORDS = 2  # characters (Chinese) or words (English) left after the filler: less is not a question yet
FILLER_ZH = (
    "请问",
    "我想问",
    "问一下",
    "一下",
    "你好",
    "您好",
    "谢谢",
    "怎么办",
    "怎么",
    "什么",
    "孩子",
    "吗",
    "呢",
    "啊",
    "了",
    "的",
)


@dataclass(frozen=True)
class Hit:
    kind: str  # faq | tip
    id: str
    score: float


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, punctuation and emoji to spaces, runs of space folded."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c if unicodedata.category(c)[0] in ("L", "N") else " " for c in text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Index:
    locale: str
    keys: list[tuple[str, str]]  # (kind, id) per row
    parts: list[tuple[TfidfVectorizer, csr_matrix]]  # the score is the mean of each part's cosine
    boost: Any  # numpy array: FAQ_BOOST for frequent questions, 1 for tips

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        text = normalise(question)
        if not text:
            return []
        scores = sum((m @ v.transform([text]).T).toarray().ravel() for v, m in self.parts) / len(self.parts)
        scores = scores * self.boost
        best = scores.argsort()[::-1][:limit]
        return [Hit(*self.keys[i], float(scores[i])) for i in best if scores[i] >= MIN_SCORE]


def _documents(library: lib.Library, locale: str) -> tuple[list[tuple[str, str]], list[str]]:
    keys: list[tuple[str, str]] = []
    docs: list[str] = []
    zh = locale == "zh_Hans"
    for faq in library.faqs:
        asked = [faq.q_zh, *faq.also_zh] if zh else [faq.q_en, *faq.also_en]
        keys.append(("faq", faq.id))
        docs.append(normalise(" ".join([*asked, faq.answer(locale)])))
    for tip in library.tips:
        keys.append(("tip", tip.id))
        docs.append(normalise(tip.text(locale)))
    return keys, docs


def build_index(library: lib.Library, locale: str) -> Index:
    # Heavy imports: made when the first question comes, not at start-up.
    import numpy as np
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    keys, docs = _documents(library, locale)
    if locale == "zh_Hans":
        vectorizers = [TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)]
    else:
        stop = sorted(ENGLISH_STOP_WORDS | COMMON_WORDS)
        vectorizers = [
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, stop_words=stop),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
        ]
    parts = [(v, v.fit_transform(docs).tocsr()) for v in vectorizers]
    boost = np.array([FAQ_BOOST if kind == "faq" else 1.0 for kind, _id in keys])
    return Index(locale, keys, parts, boost)


@cache
def index(locale: str) -> Index:
    return build_index(lib.library(), "zh_Hans" if locale == "zh_Hans" else "en")


def language_of(text: str) -> str:
    """A question with any Chinese characters is searched in Chinese; otherwise in English."""
    return "zh_Hans" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def search(question: str, limit: int = 3) -> list[Hit]:
    return index(language_of(question)).search(question, limit)


def too_vague(text: str) -> bool:
    """ "Hello", "谢谢", "孩子怎么办": nothing to search for yet; the person is asked for a little more."""
    cleaned = normalise(text)
    if language_of(cleaned) == "zh_Hans":
        for word in FILLER_ZH:
            cleaned = cleaned.replace(word, "")
        return len(cleaned.replace(" ", "")) < MIN_WORDS
    words = [w for w in cleaned.split() if w not in COMMON_WORDS and len(w) > 2]
    return len(words) < MIN_WORDS
