"""Dates and times in a message, in English (dateparser) and Chinese (JioNLP's time parser).

`find_times(text, language, now)` returns the mentions it is sure of, each with its span and an
aware datetime in `now`'s timezone. Expressions are read as the future ("at 8am" after 8am is
tomorrow, "周二" after Tuesday is next week's), which is what reminders and bookings mean.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialog_core.turn import Language

log = logging.getLogger(__name__)
_import_lock = threading.Lock()

# English: only mentions that carry a real date or time cue (dateparser finds dates in odd words)
_EN_TIME = re.compile(
    r"\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d{2}\b|\bnoon\b|\bmidnight\b|o'?clock"
    r"|(?:\d+|\b(?:in|after|within)\s+(?:an?|one|half\s+an?|a\s+few|a\s+couple\s+of))\s*"
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)\b|\btonight\b|\bmorning\b|\bafternoon\b|\bevening\b"
    r"|\bat\s+\d",
    re.IGNORECASE,
)
_EN_DATE = re.compile(
    r"\b(?:today|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues"
    r"|thu|thur|thurs|fri|january|february|march|april|june|july|august|september|october|november"
    r"|december|jan|feb|apr|jun|jul|aug|sep|sept|oct|nov|dec|weeks?|days?|months?|years?|weekend)\b"
    r"|\bmay\s+\d|\d\s+may\b|\d{1,2}/\d{1,2}|\d{4}-\d{1,2}-\d{1,2}|\b\d{1,2}(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)
_EN_PAST = re.compile(r"\b(?:ago|last|yesterday)\b", re.IGNORECASE)
_ZH_TIME = re.compile(
    r"\d+\s*[点點时時:：]|[零一二两三四五六七八九十]+[点點时時]|分钟|小时|鐘頭|钟头|秒|中午|凌晨|半夜|午夜"
)
_ZH_DATE = re.compile(r"[日号號]|[今明昨前后後]天|[今明][晚早]|天[后後]|周|星期|礼拜|月|年")
_ZH_WEEKDAY = re.compile(r"(?:周|星期|礼拜)[一二三四五六日天1-7]")
_ZH_PAST = re.compile(r"[上昨前去]")


@dataclass(frozen=True)
class TimeMention:
    text: str
    start: int
    end: int
    when: datetime  # aware, in the timezone of `now`
    has_date: bool
    has_time: bool


def find_times(text: str, language: Language, now: datetime) -> list[TimeMention]:
    """Date/time mentions in `text`, soonest interpretation in the future; `now` must be aware."""
    try:
        found = _find_zh(text, now) if language == "zh" else _find_en(text, now)
    except Exception:  # a parser bug must not fail the turn: no mention is a safe answer
        log.exception("time parsing failed for %r", text)
        return []
    return sorted(found, key=lambda mention: mention.start)


# ---------------------------------------------------------------- English


def _dateparser() -> Any:
    with _import_lock:
        from dateparser.search import search_dates

        return search_dates


def _find_en(text: str, now: datetime) -> list[TimeMention]:
    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    matches = _dateparser()(text, languages=["en"], settings=settings) or []
    mentions: list[TimeMention] = []
    cursor = 0
    for matched, value in matches:
        start = text.find(matched, cursor)
        if start < 0:
            continue
        cursor = start + len(matched)
        has_time, has_date = bool(_EN_TIME.search(matched)), bool(_EN_DATE.search(matched))
        if not (has_time or has_date) or _EN_PAST.search(matched):
            continue
        when = value.replace(tzinfo=now.tzinfo)
        mentions.append(_future(TimeMention(matched, start, cursor, when, has_date, has_time), now))
    return mentions


# ---------------------------------------------------------------- Chinese


class _MuteThisThread(io.TextIOBase):
    """Stands in for sys.stdout: drops what one thread writes, passes the others' writes on."""

    def __init__(self, real: Any) -> None:
        self.real, self.muted = real, threading.get_ident()

    def write(self, text: str) -> int:
        return len(text) if threading.get_ident() == self.muted else self.real.write(text)

    def flush(self) -> None:
        self.real.flush()


def _jionlp() -> Any:
    with _import_lock:
        if "jionlp" not in sys.modules:  # it prints a banner on import; keep it off the user's screen
            real = sys.stdout
            sys.stdout = _MuteThisThread(real)
            try:
                import jionlp  # noqa: F401
            finally:
                sys.stdout = real
        return sys.modules["jionlp"]


def _find_zh(text: str, now: datetime) -> list[TimeMention]:
    jio = _jionlp()
    mentions = []
    for found in jio.ner.extract_time(text, time_base=now.replace(tzinfo=None), with_parsing=True):
        detail = found.get("detail") or {}
        if detail.get("type") not in ("time_point", "time_span") or not detail.get("time"):
            continue
        start_text = detail["time"][0]
        if not isinstance(start_text, str):
            continue
        matched = found["text"]
        has_time, has_date = bool(_ZH_TIME.search(matched)), bool(_ZH_DATE.search(matched))
        if not (has_time or has_date):
            continue
        when = datetime.strptime(start_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=now.tzinfo)
        start, end = found["offset"]
        mention = TimeMention(matched, start, end, when, has_date, has_time)
        if _ZH_WEEKDAY.search(matched) and not _ZH_PAST.search(matched) and when.date() < now.date():
            mention = _shift(mention, timedelta(days=7))
        mentions.append(_future(mention, now))
    return mentions


# ---------------------------------------------------------------- shared


def _shift(mention: TimeMention, delta: timedelta) -> TimeMention:
    return TimeMention(
        mention.text, mention.start, mention.end, mention.when + delta, mention.has_date, mention.has_time
    )


def _future(mention: TimeMention, now: datetime) -> TimeMention:
    """A time of day already past today means tomorrow."""
    if mention.has_time and not mention.has_date and mention.when < now:
        return _shift(mention, timedelta(days=1))
    return mention
