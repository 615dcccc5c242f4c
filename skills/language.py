"""Bilingual (English/Chinese) cues that skills and forms share: cancel, yes, no, numbers."""

from __future__ import annotations

import re
from functools import cache
from types import ModuleType

_CANCEL = re.compile(
    r"^\W*(?:please\s+)?(?:cancel|stop|abort|quit|never\s*mind|forget\s+(?:it|about\s+it)|nevermind)\b"
    r"|^\W*(?:算了|取消|不用了|不要了|退出|不办了|不查了)",
    re.IGNORECASE,
)
_YES = re.compile(
    r"^\W*(?:yes|yeah|yep|yup|sure|ok|okay|correct|right|confirm(?:ed)?|go\s+ahead|do\s+it|please\s+do"
    r"|sounds\s+good|that'?s\s+right|absolutely|of\s+course)\b"
    r"|^\W*(?:好的|好|是的|是|对的|对|确认|可以|没问题|行|嗯|没错|确定)",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^\W*(?:no|nope|nah|not\s+(?:quite|really|right)|wrong|incorrect|wait)\b"
    r"|^\W*(?:不对|不是|不|错了|不行|否|等等)",
    re.IGNORECASE,
)
_CORRECTION = re.compile(
    r"\b(?:make\s+it|change\s+(?:it\s+)?to|instead|actually|rather|i\s+meant?|correction)\b"
    r"|改成|换成|改为|改到|应该是|其实是|我是说",
    re.IGNORECASE,
)


def is_cancel(text: str) -> bool:
    return bool(_CANCEL.search(text))


def is_yes(text: str) -> bool:
    return bool(_YES.search(text)) and not is_no(text)


def is_no(text: str) -> bool:
    return bool(_NO.search(text))


def is_correction(text: str) -> bool:
    return bool(_CORRECTION.search(text)) or is_no(text)


@cache
def _cn2an() -> ModuleType:
    import cn2an

    return cn2an


_CN_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿点]+")


def arabic_numbers(text: str) -> str:
    """Chinese numerals written as digits: 三加五 -> 3加5, 两个小时 -> 2个小时, 十点半 -> 10点半.

    Only runs of numeral characters are converted ("点" inside a run is the decimal point, so
    "十点半" keeps its "点"). A run that cn2an cannot read is left as it is.
    """
    if not _CN_NUMERAL.search(text):
        return text
    cn2an = _cn2an()

    def convert(match: re.Match[str]) -> str:
        run = match.group()
        tail = ""
        while run.endswith("点"):
            run, tail = run[:-1], "点" + tail
        if not run or run in {"万", "亿", "千", "百"}:
            return match.group()
        try:
            value = cn2an.cn2an(run.replace("两", "二"), "smart")
        except (ValueError, KeyError):
            return match.group()
        number = int(value) if float(value).is_integer() else value
        return f"{number}{tail}"

    return _CN_NUMERAL.sub(convert, text)
