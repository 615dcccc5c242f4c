"""Time and date, here or in a city: "what time is it in Tokyo?", "东京现在几点？".

Cities come from the knowledge graph (:City {name, name_zh, aliases, timezone, population}); a
country stands for its capital. A city the entity linker already found in the message is used
directly; otherwise the place named after "in" (or before "几点") is looked up.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skills import CJK_CHARS, Language, Skill, SkillResult, SkillUnavailable, Turn, say

_WEEKDAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WEEKDAYS_ZH = "一二三四五六日"

_TIME_EN = re.compile(
    r"\bwhat(?:'s|\s+is)?\s+(?:the\s+)?time\b|\bwhat\s+time\s+is\s+it\b"
    r"|\bcurrent\s+time\b|\blocal\s+time\b|\btell\s+me\s+the\s+time\b|\bdo\s+you\s+have\s+the\s+time\b",
    re.IGNORECASE,
)
_DATE_EN = re.compile(
    r"\bwhat(?:'s|\s+is)?\s+(?:the\s+|today'?s\s+)?date\b|\bwhat\s+day\s+is\s+(?:it|today)\b"
    r"|\btoday'?s\s+date\b|\bwhich\s+day\s+is\s+(?:it|today)\b",
    re.IGNORECASE,
)
_TIME_ZH = re.compile(
    r"几点(?:了|啦|钟|钟了)?[?？吗呢啊。!！]*$|(?:现在|当前|目前)(?:是)?(?:几点|什么时间)|什么时间了|时间是多少|当地时间"
    r"|(?:现在|当前)的时间"
)
_DATE_ZH = re.compile(r"几号|几月几[日号]|星期几|周几|礼拜几|什么日子|哪一天|日期是")
_PLACE_EN = re.compile(r"\bin\s+(?P<place>[^?!.,;]+)", re.IGNORECASE)
_PLACE_EN_TRAILER = re.compile(
    r"\s+(?:right\s+now|now|currently|at\s+the\s+moment|today|please)\s*$", re.IGNORECASE
)
_PLACE_ZH = re.compile(
    rf"(?P<place>[{CJK_CHARS}A-Za-z]{{1,12}}?)(?:的)?(?:当地)?(?:是)?(?:几点|什么时间|时间)"
)
_NOT_PLACES = {"今天", "明天", "昨天", "今晚", "这里", "这儿", "我们这", "我这"}
_ZH_NOISE = re.compile(r"现在|当前|目前|此刻|请问|那么|那|你知道|告诉我|一下|在")

_CITY_QUERY = """
MATCH (c:City)
WHERE c.name IN $names OR c.name_zh IN $names OR any(a IN c.aliases WHERE toLower(a) IN $lower)
RETURN c.name AS name, c.name_zh AS name_zh, c.timezone AS timezone
ORDER BY c.population DESC LIMIT 1
"""
_COUNTRY_QUERY = """
MATCH (country:Country)-[:HAS_CAPITAL]->(c:City)
WHERE country.name IN $names OR country.name_zh IN $names
   OR any(a IN country.aliases WHERE toLower(a) IN $lower)
RETURN country.name AS name, country.name_zh AS name_zh, c.timezone AS timezone
LIMIT 1
"""
_CITY_BY_ID = "MATCH (c:City {id: $id}) RETURN c.name AS name, c.name_zh AS name_zh, c.timezone AS timezone"


class ClockSkill(Skill):
    name = "clock"
    description = "The time and date, here or in a city (timezones from the world graph)."
    intents: ClassVar[dict[str, list[str]]] = {
        "clock.time": [
            "what time is it", "what's the time", "tell me the time", "do you have the time",
            "what time is it now", "现在几点", "现在几点了", "几点了", "现在什么时间", "告诉我现在的时间",
        ],
        "clock.date": [
            "what's the date today", "what day is it today", "what is today's date", "which day is it",
            "今天几号", "今天星期几", "今天是几月几号", "今天周几", "今天礼拜几",
        ],
        "clock.city": [
            "what time is it in Tokyo", "what's the time in New York", "current time in London",
            "local time in Sydney", "what time is it in Paris right now",
            "东京现在几点", "纽约几点了", "伦敦现在什么时间", "巴黎时间是多少", "悉尼当地时间",
        ],
    }  # fmt: skip

    def can_handle(self, turn: Turn) -> float:
        text = turn.nlu.normalized
        if _TIME_EN.search(text) or _DATE_EN.search(text) or _TIME_ZH.search(text) or _DATE_ZH.search(text):
            return 0.9
        return super().can_handle(turn)

    def handle(self, turn: Turn) -> SkillResult:
        language, text = turn.nlu.language, turn.nlu.normalized
        place = self._place(turn)
        if place is None:
            now = datetime.fromtimestamp(turn.now, self.ctx.timezone)
            if _DATE_EN.search(text) or _DATE_ZH.search(text):
                return SkillResult(_say_date(now, language))
            return SkillResult(_say_time(now, language))
        if place.get("timezone") is None:
            return SkillResult(
                say(
                    language,
                    "Sorry, I don't know where {place} is, so I can't tell its time.",
                    "抱歉，我不知道{place}在哪里，没法告诉你那里的时间。",
                    place=place["asked"],
                )
            )
        try:
            zone = ZoneInfo(place["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            return SkillResult(
                say(language, "Sorry, I don't know the timezone of {place}.", "抱歉，我不知道{place}的时区。",
                    place=place["asked"])
            )  # fmt: skip
        now = datetime.fromtimestamp(turn.now, zone)
        shown = (place.get("name_zh") or place["name"]) if language == "zh" else place["name"]
        if language == "zh":
            return SkillResult(
                f"{shown}现在是{now.month}月{now.day}日 星期{_WEEKDAYS_ZH[now.weekday()]} "
                f"{now:%H:%M}（{zone.key}）。"
            )
        return SkillResult(
            f"In {shown} it's {now:%H:%M} on {_WEEKDAYS_EN[now.weekday()]} {now.day} {now:%B} ({zone.key})."
        )

    def _place(self, turn: Turn) -> dict[str, Any] | None:
        """None: no place asked about. Else the place found (without `timezone` if unknown)."""
        for entity in turn.nlu.entities:
            if entity.type == "City":
                rows = self._query(_CITY_BY_ID, {"id": entity.id})
                if rows and rows[0].get("timezone"):
                    return {**rows[0], "asked": entity.mention or entity.name}
        asked = _asked_place(turn.nlu.normalized, turn.nlu.language)
        if not asked:
            return None
        variants = sorted({asked, asked.title(), asked.lower(), asked.upper()})
        params = {"names": variants, "lower": [asked.lower()]}
        rows = self._query(_CITY_QUERY, params) or self._query(_COUNTRY_QUERY, params)
        return {**rows[0], "asked": asked} if rows else {"asked": asked, "timezone": None}

    def _query(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return self.ctx.graph.query(cypher, params)
        except SkillUnavailable:
            raise
        except Exception as error:
            raise SkillUnavailable(
                f"The knowledge graph could not be searched for places: {error}"
            ) from error


def _asked_place(text: str, language: Language) -> str | None:
    if language == "zh":
        cleaned = _ZH_NOISE.sub("", text)
        match = _PLACE_ZH.search(cleaned)
        place = match.group("place") if match else ""
        return place if place and place not in _NOT_PLACES else None
    match = _PLACE_EN.search(text)
    if not match:
        return None
    place = _PLACE_EN_TRAILER.sub("", match.group("place").strip())
    place = re.sub(r"^(?:the\s+city\s+of\s+)", "", place, flags=re.IGNORECASE).strip()
    return place or None


def _say_time(now: datetime, language: Language) -> str:
    if language == "zh":
        return f"现在是 {now:%H:%M}（{now.month}月{now.day}日 星期{_WEEKDAYS_ZH[now.weekday()]}）。"
    return f"It's {now:%H:%M} ({_WEEKDAYS_EN[now.weekday()]} {now.day} {now:%B})."


def _say_date(now: datetime, language: Language) -> str:
    if language == "zh":
        return f"今天是 {now.year}年{now.month}月{now.day}日，星期{_WEEKDAYS_ZH[now.weekday()]}。"
    return f"Today is {_WEEKDAYS_EN[now.weekday()]} {now.day} {now:%B} {now.year}."
