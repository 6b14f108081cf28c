"""BM25 text analysis: Lucene's StandardTokenizer rules and the filters of Pyserini's English analyzer.

Pyserini's flat BM25 indexes (Anserini's DefaultEnglishAnalyzer) run StandardTokenizer ->
EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter (Lucene's 33 English stop words) ->
PorterStemFilter. StandardTokenizer splits on the word boundaries of Unicode UAX #29, so "I'm",
"e.g.", "U.S.A." and "3.14" stay whole ("i'm", "e.g", "u.s.a", "3.14") where the pattern
`\\b\\w+\\b` makes single-letter terms ("i", "m") that match half a collection. `lucene_tokens`
follows the tokenizer's grammar (StandardTokenizerImpl.jflex):

- letters, digits and connectors (`_`) join; letters join across MidLetter/MidNumLet/apostrophe
  (`'`, `.`, `:`, U+2019) when a letter follows; digits join across MidNum/MidNumLet/apostrophe
  (`,`, `.`, `;`) when a digit follows; hyphens and everything else split;
- each Han ideograph and each Hiragana character is a token; Katakana runs are one token;
  runs of South East Asian scripts (Thai, Lao, Khmer, Myanmar) are one token, as ICU keeps them;
- emoji (with modifiers and zero-width-joiner sequences) and flag pairs are tokens;
- combining marks and format characters stay with the character before them (UAX #29 WB4);
- tokens longer than 255 characters are cut into 255-character pieces (maxTokenLength).

Katakana joined to letters through `_` is split here (Lucene keeps "a_カ" whole); no collection
we evaluate has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import regex

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (also Anserini's default stop set).
LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
# Part of the BM25 index cache key: bump it whenever the terms this module makes change.
ANALYSIS_VERSION = 1
MAX_TOKEN_LENGTH = 255  # StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH
POSSESSIVE_SUFFIXES = ("'s", "'S", "\u2019s", "\u2019S", "\uff07s", "\uff07S")

_X = r"[\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}]*"  # WB4: ignored after a character
_AH = r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}]"
_NUM = r"\p{WB=Numeric}"
_ENL = r"\p{WB=ExtendNumLet}"
_MID_LETTER = r"[\p{WB=MidLetter}\p{WB=MidNumLet}\p{WB=Single_Quote}]"
_MID_NUM = r"[\p{WB=MidNum}\p{WB=MidNumLet}\p{WB=Single_Quote}]"
_HL = r"\p{WB=Hebrew_Letter}"
_PICTO = r"\p{Extended_Pictographic}"
_WORD = (
    rf"(?:(?:{_AH}|{_NUM}|{_ENL}){_X}"  # WB5, WB8, WB9, WB10, WB13a, WB13b
    rf"|(?<={_AH}{_X}){_MID_LETTER}{_X}(?={_AH})"  # WB6, WB7
    rf"|(?<={_NUM}{_X}){_MID_NUM}{_X}(?={_NUM})"  # WB11, WB12
    rf"|(?<={_HL}{_X})\p{{WB=Single_Quote}}{_X}"  # WB7a
    rf"|(?<={_HL}{_X})\p{{WB=Double_Quote}}{_X}(?={_HL}))+"  # WB7b, WB7c
)
_TOKEN = regex.compile(
    "|".join(
        (
            _WORD,
            rf"(?:\p{{WB=Katakana}}{_X})+",  # WB13
            rf"(?:\p{{Line_Break=Complex_Context}}{_X})+",  # South East Asian runs, kept whole
            rf"[\p{{Script=Han}}\p{{Script=Hiragana}}]{_X}",  # one token per character
            rf"{_PICTO}[\p{{WB=Extend}}\p{{WB=Format}}]*"
            rf"(?:\p{{WB=ZWJ}}{_PICTO}[\p{{WB=Extend}}\p{{WB=Format}}]*)*",  # emoji, WB3c
            r"\p{WB=Regional_Indicator}{2}",  # flags, WB15/WB16
        )
    )
)

# A run of connectors alone ("__") has no letter or digit: StandardTokenizer makes no token of it.
_NOT_ONLY_CONNECTORS = regex.compile(r"[^\p{WB=ExtendNumLet}\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}]")
ANALYZERS = ("lucene", "regex")


def lucene_tokens(text: str) -> list[str]:
    """Return the tokens Lucene's StandardTokenizer makes of `text`, case kept."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        if not _NOT_ONLY_CONNECTORS.search(token):
            continue
        if len(token) <= MAX_TOKEN_LENGTH:
            tokens.append(token)
        else:
            tokens.extend(token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH))
    return tokens


def strip_possessive(token: str) -> str:
    """Return the token without a trailing 's (EnglishPossessiveFilter: "mat's" -> "mat")."""
    return token[:-2] if token.endswith(POSSESSIVE_SUFFIXES) else token


def stemmer_algorithm(name: str) -> str | None:
    """Return PyStemmer's algorithm for a stemmer setting; 'snowball' is Snowball English."""
    return None if name == "none" else {"snowball": "english"}.get(name, name)


class LuceneAnalyzer:
    """Pyserini's English analysis: tokenize, drop possessives, lower-case, stop words out, stem."""

    def __init__(self, stemmer: Callable[[list[str]], list[str]] | None, stopwords: Iterable[str]) -> None:
        self._stop = frozenset(stopwords)
        self._stem_words = stemmer
        self._stem = lru_cache(maxsize=1 << 20)(self._stem_one)

    def _stem_one(self, term: str) -> str:
        return term if self._stem_words is None else self._stem_words([term])[0]

    def __call__(self, text: str) -> list[str]:
        """Return the index terms of `text`."""
        terms = (strip_possessive(token).lower() for token in lucene_tokens(text))
        return [stemmed for term in terms if term not in self._stop and (stemmed := self._stem(term))]


def stop_words(name: str) -> frozenset[str]:
    """Return the stop set a setting names: 'en' (Lucene's 33 words) or 'none'."""
    return LUCENE_STOP_WORDS if name == "en" else frozenset()
