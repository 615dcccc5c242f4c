"""Typed slots for forms: each kind finds its values in a message and shows them in both languages.

A kind's `extract` returns candidate values with their spans; the form gives each span to one slot
only (dates and times first, then patterns, choices, numbers, free text). Values are stored as
JSON-friendly strings and numbers (they are saved with the dialogue state).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from dialog_core.turn import Language
from skills.api import Slot
from skills.language import arabic_numbers
from skills.timeparse import TimeMention, find_times

Bilingual = tuple[str, str]  # (English, Chinese)
_WEEKDAYS_ZH = "一二三四五六日"


@dataclass(frozen=True)
class Found:
    value: Any
    start: int
    end: int


@dataclass(frozen=True)
class SlotInput:
    """What a slot kind looks at: the message (with spans taken by other slots blanked out)."""

    text: str
    language: Language
    now: datetime
    requested: bool  # the form just asked for this slot


class SlotKind:
    priority = 50  # lower extracts first
    family = ""  # kinds of one family (date, time) may read the same words

    def extract(self, given: SlotInput) -> list[Found]:
        raise NotImplementedError

    def show(self, value: Any, language: Language) -> str:
        return str(value)


class DateKind(SlotKind):
    """A calendar day (ISO date string): "tomorrow", "next Friday", "周二", "3月5日"."""

    priority = 10
    family = "time"

    def extract(self, given: SlotInput) -> list[Found]:
        return [Found(m.when.date().isoformat(), m.start, m.end) for m in _times(given) if m.has_date]

    def show(self, value: Any, language: Language) -> str:
        day = date.fromisoformat(value)
        if language == "zh":
            return f"{day.month}月{day.day}日（周{_WEEKDAYS_ZH[day.weekday()]}）"
        return day.strftime("%a %d %b").replace(" 0", " ")


class TimeKind(SlotKind):
    """A time of day ("HH:MM"): "at 7pm", "19:30", "晚上7点"."""

    priority = 10
    family = "time"

    def extract(self, given: SlotInput) -> list[Found]:
        return [Found(m.when.strftime("%H:%M"), m.start, m.end) for m in _times(given) if m.has_time]

    def show(self, value: Any, language: Language) -> str:
        return time.fromisoformat(value).strftime("%H:%M")


class DateTimeKind(SlotKind):
    """A moment (ISO datetime with offset): "in 10 minutes", "tomorrow at 8am", "明天早上8点"."""

    priority = 10
    family = "time"

    def extract(self, given: SlotInput) -> list[Found]:
        return [Found(m.when.isoformat(timespec="minutes"), m.start, m.end) for m in _times(given)]

    def show(self, value: Any, language: Language) -> str:
        return show_moment(datetime.fromisoformat(value), language)


def show_moment(moment: datetime, language: Language) -> str:
    if language == "zh":
        return f"{moment.month}月{moment.day}日 {moment:%H:%M}"
    return moment.strftime("%a %d %b %H:%M").replace(" 0", " ", 1)


def _times(given: SlotInput) -> list[TimeMention]:
    return find_times(given.text, given.language, given.now)


@dataclass
class PatternKind(SlotKind):
    """A value matching a regular expression (an order id, a phone number, an e-mail address)."""

    pattern: str
    normalize: Callable[[str], str] = str.strip
    priority: int = 20

    def __post_init__(self) -> None:
        self._regex = re.compile(self.pattern, re.IGNORECASE)

    def extract(self, given: SlotInput) -> list[Found]:
        return [
            Found(self.normalize(m.group()), m.start(), m.end()) for m in self._regex.finditer(given.text)
        ]


@dataclass
class ChoiceKind(SlotKind):
    """One of a few options, each with synonyms in both languages."""

    options: Mapping[str, list[str]]
    labels: Mapping[str, Bilingual] = field(default_factory=dict)
    priority: int = 30

    def __post_init__(self) -> None:
        terms = sorted(
            ((term, value) for value, synonyms in self.options.items() for term in [value, *synonyms]),
            key=lambda pair: -len(pair[0]),
        )
        self._lookup = {term.lower(): value for term, value in terms}
        alternatives = "|".join(rf"\b{re.escape(t)}\b" if t.isascii() else re.escape(t) for t, _ in terms)
        self._regex = re.compile(alternatives, re.IGNORECASE)

    def extract(self, given: SlotInput) -> list[Found]:
        return [
            Found(self._lookup[m.group().lower()], m.start(), m.end())
            for m in self._regex.finditer(given.text)
        ]

    def show(self, value: Any, language: Language) -> str:
        label = self.labels.get(value)
        return (label[1] if language == "zh" else label[0]) if label else str(value)


_DIGITS = re.compile(r"(?<![\d.:/])\d+(?:\.\d+)?(?![\d.:/])")
_CN_DIGITS = re.compile(r"[零〇一二两三四五六七八九十百千]+")
_EN_NUMBERS = {
    word: n
    for n, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_EN_WORDS = re.compile(r"\b(?:" + "|".join(_EN_NUMBERS) + r")\b", re.IGNORECASE)


def numbers_in(text: str) -> list[Found]:
    """Every number written in digits, in Chinese numerals or as an English word up to twelve."""
    found = [Found(float(m.group()), m.start(), m.end()) for m in _DIGITS.finditer(text)]
    found += [
        Found(float(_EN_NUMBERS[m.group().lower()]), m.start(), m.end()) for m in _EN_WORDS.finditer(text)
    ]
    for match in _CN_DIGITS.finditer(text):
        converted = arabic_numbers(match.group())
        if converted != match.group() and _DIGITS.fullmatch(converted):
            found.append(Found(float(converted), match.start(), match.end()))
    return sorted(found, key=lambda f: f.start)


@dataclass
class NumberKind(SlotKind):
    """A number; unless the form asked for it, only next to one of its `keywords` ("4 people", "4位")."""

    integer: bool = True
    keywords: tuple[str, ...] = ()
    priority: int = 40

    def extract(self, given: SlotInput) -> list[Found]:
        found = []
        lowered = given.text.lower()
        for number in numbers_in(given.text):
            near = lowered[max(0, number.start - 12) : number.end + 12]
            if not given.requested and not any(keyword in near for keyword in self.keywords):
                continue
            if self.integer and not number.value.is_integer():
                continue
            value = int(number.value) if number.value.is_integer() else number.value
            found.append(Found(value, number.start, number.end))
        return found


class TextKind(SlotKind):
    """Free text: the whole message, taken only when the form asked for this slot."""

    priority = 90

    def extract(self, given: SlotInput) -> list[Found]:
        if not given.requested:
            return []
        value = given.text.strip(" \t,.;:!?，。；：！？")
        if not value:
            return []
        start = given.text.find(value)
        return [Found(value, start, start + len(value))]


@dataclass(frozen=True)
class FormSlot(Slot):
    """A slot of a form: its kind, its question in both languages, its label for summaries."""

    kind: SlotKind = field(default_factory=TextKind)
    prompt: Bilingual = ("", "")
    label: Bilingual = ("", "")
    required: bool = True

    def ask(self, language: Language) -> str:
        return self.prompt[1] if language == "zh" else self.prompt[0]

    def title(self, language: Language) -> str:
        chosen = self.label[1] if language == "zh" else self.label[0]
        return chosen or self.name


class InvalidSlot(ValueError):
    """Raised by a form's `validate_<slot>`: the value is refused, with the reason in both languages."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.message: Bilingual = (en, zh)

    def say(self, language: Language) -> str:
        return self.message[1] if language == "zh" else self.message[0]
