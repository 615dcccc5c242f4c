"""Text helpers every package shares: the CJK character class, language detection, keys and tokens
(the index, the features, the ranker), and the normal form names and messages are compared in.

Chinese is segmented with jieba (which also splits the Latin words of mixed text); punctuation and
spaces are dropped, Latin is lower-cased. `fold` is NFKC, case-folded, traditional Chinese characters
turned simplified (OpenCC), so "PARIS", "Paris" and "巴黎" / "內羅比" / "内罗比" match what was indexed
whichever way the user typed them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal

import jieba
import opencc

Language = Literal["en", "zh"]

jieba.setLogLevel(60)  # its "Building prefix dict" chatter goes to stderr otherwise

_WORD = re.compile(r"\w", re.UNICODE)
_KEY_DROP = re.compile(r"[\W_]+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]")
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # unified ideographs, extension A, compatibility
"""The one CJK character class: use it inside brackets, `re.compile(f"[{CJK_CHARS}]+")`."""
_CJK = re.compile(f"[{CJK_CHARS}]")
_ONLY_CJK = re.compile(f"^[{CJK_CHARS}·・]+$")
_LATIN = re.compile(r"[A-Za-z]")
_WORDS = re.compile(r"\w+", re.UNICODE)


def is_cjk_char(char: str) -> bool:
    return bool(_CJK.match(char))


def is_cjk(text: str) -> bool:
    """Whether the text holds any CJK ideograph."""
    return bool(_CJK.search(text))


def is_all_cjk(text: str) -> bool:
    return bool(_ONLY_CJK.match(text))


def detect_language(text: str) -> Language:
    """Chinese when CJK ideographs are at least a third of the letters, else English."""
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN.findall(text)) / 4  # ~4 letters carry what one ideograph carries
    return "zh" if cjk and cjk >= latin_words / 2 else "en"


def key(text: str) -> str:
    """Identity of a message for de-duplication and splits: "Hi, how is it going?" == "hi how is it going"."""
    return _KEY_DROP.sub("", unicodedata.normalize("NFKC", text).lower())


@functools.lru_cache(maxsize=8192)
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


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def simplified(text: str) -> str:
    """Traditional Chinese characters as simplified ones; other text unchanged."""
    return _converter("t2s").convert(text) if _CJK.search(text) else text


def fold(text: str) -> str:
    return simplified(unicodedata.normalize("NFKC", text).casefold())


def ascii_fold(text: str) -> str:
    """'Bogotá' -> 'Bogota' (accents dropped); letters without an ASCII form stay as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def is_mainland_form(text: str) -> bool:
    """Simplified and unlike its traditional form: how the name is written in mainland China."""
    return simplified(text) == text and _converter("s2t").convert(text) != text


def format_number(value: float, language: str, unit: str = "") -> str:
    """41800000 -> '41,800,000' (en) or '4180万（41,800,000）' (zh); the exact digits always show."""
    exact = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
    if language != "zh" or abs(value) < 10_000:
        return f"{exact}{unit}"
    for size, word in ((100_000_000, "亿"), (10_000, "万")):
        if abs(value) >= size:
            short = f"{value / size:.2f}".rstrip("0").rstrip(".")
            return f"{short}{word}{unit}（{exact}）"
    return f"{exact}{unit}"


def join_names(names: list[str], language: str, limit: int = 20) -> str:
    """'A, B and C' / 'A、B和C'; past `limit` the rest is counted ('and 12 more' / '等15个')."""
    shown, rest = names[:limit], len(names) - limit
    if language == "zh":
        text = "、".join(shown)
        return f"{text}等{len(names)}个" if rest > 0 else text
    if rest > 0:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} and {shown[-1]}"
