"""Text keys and tokens shared by the index, the features and the ranker.

Chinese is segmented with jieba (which also splits the Latin words of mixed text); punctuation and
spaces are dropped, Latin is lower-cased.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jieba

from dialog.understanding.basic import detect_language

jieba.setLogLevel(60)  # its "Building prefix dict" chatter goes to stderr otherwise

_WORD = re.compile(r"\w", re.UNICODE)
_KEY_DROP = re.compile(r"[\W_]+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDS = re.compile(r"\w+", re.UNICODE)


def key(text: str) -> str:
    """Identity of a message for de-duplication and splits: "Hi, how is it going?" == "hi how is it going"."""
    return _KEY_DROP.sub("", unicodedata.normalize("NFKC", text).lower())


@lru_cache(maxsize=8192)
def tokens(text: str) -> tuple[str, ...]:
    """Word tokens: jieba for Chinese and mixed text, lower-cased, punctuation dropped. Text without
    Chinese characters is split at non-word characters (jieba takes 16 s for the 88k indexed
    queries, mostly English; the split well under one)."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    if not _CJK.search(normalized):
        return tuple(_WORDS.findall(normalized))
    return tuple(t for t in (w.strip() for w in jieba.lcut(normalized)) if t and _WORD.search(t))


def char_bigrams(text: str) -> set[str]:
    chars = key(text)
    return {chars[i : i + 2] for i in range(len(chars) - 1)} or ({chars} if chars else set())


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def speaks(text: str, language: str) -> bool:
    """Whether `text` answers a `language` speaker in their language; a reply without letters ("1963",
    an emoji) speaks any. A name in Latin letters ("Python") is English here: a Chinese answer above
    the threshold goes first."""
    return detect_language(text) == language or not _LETTER.search(text)
