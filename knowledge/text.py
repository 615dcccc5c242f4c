"""Text helpers shared by the importer, the linker and the verbaliser.

`fold` is the one normal form names and messages are compared in: NFKC, case-folded, traditional
Chinese characters turned simplified (OpenCC), so "PARIS", "Paris" and "巴黎" / "內羅比" / "内罗比"
match what was indexed whichever way the user typed them.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import opencc

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ONLY_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·・]+$")


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


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def is_all_cjk(text: str) -> bool:
    return bool(_ONLY_CJK.match(text))


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
