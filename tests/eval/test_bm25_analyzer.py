"""Our BM25 analysis against Lucene's StandardTokenizer rules and Pyserini's English filters.

The expected token streams are written from Lucene's documented behaviour (StandardTokenizer
implements the word boundaries of Unicode UAX #29; South East Asian runs are kept whole, each
ideograph is a token, emoji are tokens). No Java runs here, so `uniseg`, an independent UAX #29
implementation, checks the same strings a second way.
"""

from __future__ import annotations

import pytest
import regex
from uniseg.wordbreak import words

from reranker.eval.bm25_analyzer import MAX_TOKEN_LENGTH, LuceneAnalyzer, lucene_tokens, strip_possessive
from reranker.eval.first_stage import Bm25Config, tokenize

LUCENE_CASES: list[tuple[str, list[str]]] = [
    ("I'm sure I'd go", ["I'm", "sure", "I'd", "go"]),
    ("e.g. this, i.e. that", ["e.g", "this", "i.e", "that"]),
    ("U.S.A. and the U.K.", ["U.S.A", "and", "the", "U.K"]),
    ("state-of-the-art wi-fi", ["state", "of", "the", "art", "wi", "fi"]),
    ("pi is 3.14, about 3,14159", ["pi", "is", "3.14", "about", "3,14159"]),
    ("1,000.50 dollars; v1.2 and 1.2.3", ["1,000.50", "dollars", "v1.2", "and", "1.2.3"]),
    ("COVID-19 in H2O at 37C", ["COVID", "19", "in", "H2O", "at", "37C"]),
    ("don't won't O'Neil's", ["don't", "won't", "O'Neil's"]),
    ("it\u2019s Mary\u2019s", ["it\u2019s", "Mary\u2019s"]),
    ("mail me@example.com", ["mail", "me", "example.com"]),
    ("see http://lucene.apache.org/core", ["see", "http", "lucene.apache.org", "core"]),
    ("p<0.05, n=12 (10:30) a:b", ["p", "0.05", "n", "12", "10", "30", "a:b"]),
    ("naïve café cafe\u0301 résumé", ["naïve", "café", "cafe\u0301", "résumé"]),
    ("Ελληνικά и русский", ["Ελληνικά", "и", "русский"]),
    ("\u03b1-synuclein TNF-\u03b1 IL-6", ["\u03b1", "synuclein", "TNF", "\u03b1", "IL", "6"]),
    ("foo_bar __init__ __", ["foo_bar", "__init__"]),
    ("'quoted' x. ... -- a'", ["quoted", "x", "a"]),
    ("中文字 ひらがな カタカナ", ["中", "文", "字", "ひ", "ら", "が", "な", "カタカナ"]),
    ("שלום א'ב צה\"ל", ["שלום", "א'ב", 'צה"ל']),
    ("flags 🇺🇸 and 👍🏽 👨\u200d👩\u200d👧", ["flags", "🇺🇸", "and", "👍🏽", "👨\u200d👩\u200d👧"]),
]
THAI = ("ภาษาไทย ง่าย", ["ภาษาไทย", "ง่าย"])  # kept whole (ICU would split by dictionary)

_WORDLIKE = regex.compile(r"[\p{L}\p{N}\p{Extended_Pictographic}\p{Regional_Indicator}]")


def _uax29_words(text: str) -> list[str]:
    """Return uniseg's UAX #29 word segments that hold a letter, digit or emoji (Lucene's tokens)."""
    return [segment for segment in words(text) if _WORDLIKE.search(segment)]


@pytest.mark.parametrize(("text", "expected"), [*LUCENE_CASES, THAI])
def test_tokens_follow_lucene_standard_tokenizer(text: str, expected: list[str]) -> None:
    assert lucene_tokens(text) == expected


@pytest.mark.parametrize(("text", "expected"), LUCENE_CASES)
def test_tokens_equal_an_independent_uax29_segmenter(text: str, expected: list[str]) -> None:
    assert _uax29_words(text) == expected  # the expected streams are UAX #29's ...
    assert lucene_tokens(text) == _uax29_words(text)  # ... and so are ours


def test_long_tokens_are_cut_at_lucenes_max_token_length() -> None:
    tokens = lucene_tokens("a" * 600)

    assert [len(token) for token in tokens] == [MAX_TOKEN_LENGTH, MAX_TOKEN_LENGTH, 90]


def test_possessives_are_stripped_before_lower_casing() -> None:
    assert [strip_possessive(t) for t in ["mat's", "MAT'S", "Mary\u2019s", "its", "'s"]] == [
        "mat",
        "MAT",
        "Mary",
        "its",
        "",
    ]


def test_the_analyzer_is_pyserinis_english_chain() -> None:
    analyzer = LuceneAnalyzer(stemmer=None, stopwords={"the", "a"})

    assert analyzer("The Cat's I'm e.g. a U.S.A. 3.14") == ["cat", "i'm", "e.g", "u.s.a", "3.14"]


def test_bm25_terms_keep_apostrophes_and_abbreviations_where_the_regex_split_them() -> None:
    text = ["I'm sure the mat's U.S.A. e.g. state-of-the-art"]

    # Porter: "sure" -> "sure", "state" -> "state"; Lucene's stop set drops "the"; no 'i' or 'm'.
    assert tokenize(text, Bm25Config()) == [["i'm", "sure", "mat", "u.s.a", "e.g", "state", "art"]]
    assert tokenize(text, Bm25Config(tokenizer="regex")) == [
        ["i", "m", "sure", "mat", "u", "e", "g", "state", "art"]
    ]


def test_porter_and_snowball_are_both_selectable() -> None:
    words_in = ["generously", "fairly"]

    assert tokenize([" ".join(words_in)], Bm25Config(stemmer="porter")) == [["gener", "fairli"]]
    assert tokenize([" ".join(words_in)], Bm25Config(stemmer="snowball")) == [["generous", "fair"]]
    assert tokenize([" ".join(words_in)], Bm25Config(stemmer="english")) == [["generous", "fair"]]
    assert tokenize([" ".join(words_in)], Bm25Config(stemmer="none")) == [words_in]
