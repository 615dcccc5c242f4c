"""The safety layer: what a social chatbot must never get wrong (data/safety.yaml).

On the way in, a message about self-harm gets a caring reply that points to people and emergency
help; abuse toward the bot gets a calm boundary; sexual talk, requests for dangerous instructions,
attempts to rewrite the persona or make the bot claim to be human, requests for somebody's personal
data and hate get a short fixed reply. None of them reaches retrieval or a generator, and the policy
puts them before everything else, an active form included. On the way out, core chat never serves a
candidate (retrieved or generated) with an offensive word, sexual content, personal data or a hateful
generalisation. The neural generator is not asked at all about subjects a small model gets wrong by
agreeing (poisons, stealing, somebody's address, groups of people, sex, role-play): `generator_avoid`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml

from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.turn import Turn

SAFETY_FILE = SHIPPED_DATA_DIR / "safety.yaml"
_WORD = re.compile(r"[\w']+")
# a phone number, an e-mail address, a URL, an ID (18 characters, China) or a card number (13-19 digits)
_PERSONAL = re.compile(
    r"\S+@\S+\.\w+|https?://|www\.|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b|(?<!\d)1[3-9]\d{9}(?!\d)"
    r"|\b\d{17}[\dXx]\b|\b(?:\d[ -]?){13,19}\b"
)


@dataclass(frozen=True)
class SafetyRules:
    inbound: dict[str, list[re.Pattern[str]]]  # category -> patterns of both languages, in order
    replies: dict[str, dict[str, list[str]]]  # category -> language -> lines
    blocked: list[re.Pattern[str]]
    generator_avoid: list[re.Pattern[str]]

    @classmethod
    def load(cls, path: Path = SAFETY_FILE) -> SafetyRules:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))

        def compiled(patterns: list[str]) -> list[re.Pattern[str]]:
            return [re.compile(p, re.IGNORECASE) for p in patterns]

        inbound = {
            category: compiled([*by_language.get("en", []), *by_language.get("zh", [])])
            for category, by_language in raw["inbound"].items()
        }
        avoid = raw["generator_avoid"]
        return cls(inbound, raw["replies"], compiled([*raw["blocked"]["en"], *raw["blocked"]["zh"]]),
                   compiled([*avoid["en"], *avoid["zh"]]))  # fmt: skip

    def category(self, text: str) -> str | None:
        """The first category whose pattern the message matches (self-harm first), or None."""
        for category, patterns in self.inbound.items():
            if any(p.search(text) for p in patterns):
                return category
        return None

    def unsafe(self, text: str) -> str | None:
        """Why a reply must not be served, or None."""
        if profane(text):
            return "offensive word"
        if any(p.search(text) for p in self.blocked):
            return "blocked content"
        if _PERSONAL.search(text):
            return "personal data"
        if any(p.search(text) for p in self.inbound.get("hate", [])):  # a generated reply can agree with hate
            return "hateful generalisation"
        return None

    def generator_avoids(self, text: str) -> bool:
        """Whether the message is on a subject the neural generator must not answer (see safety.yaml)."""
        return any(p.search(text) for p in self.generator_avoid)

    def reply(self, category: str, language: str, avoid: str | None, chooser: random.Random) -> str:
        lines = self.replies[category].get(language) or self.replies[category]["en"]
        return chooser.choice([line for line in lines if line != avoid] or lines)


@cache
def rules() -> SafetyRules:
    return SafetyRules.load()


def unsafe(text: str) -> str | None:
    return rules().unsafe(text)


@cache
def _profanity() -> tuple[frozenset[str], re.Pattern[str]]:
    """`better-profanity`'s word list, its single words as a set and its phrases as one pattern: its
    own matcher tries every spelling variant of every word, 40 ms a line here, hours for a corpus."""
    listed = files("better_profanity").joinpath("profanity_wordlist.txt").read_text(encoding="utf-8")
    entries = {w.strip().lower() for w in listed.splitlines() if w.strip()}
    phrases = sorted((e for e in entries if " " in e), key=len, reverse=True)
    pattern = r"(?<!\w)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\w)"
    return frozenset(e for e in entries if " " not in e), re.compile(pattern, re.IGNORECASE)


def profane(text: str) -> bool:
    """Whether `text` holds a word or phrase of `better-profanity`'s list."""
    words, phrases = _profanity()
    return not words.isdisjoint(_WORD.findall(text.lower())) or bool(phrases.search(text))


class SafetyCheck:
    """Understanding stage (right after the language): fills `nlu.safety`."""

    name = "safety"

    def __init__(self, safety: SafetyRules | None = None) -> None:
        self.rules = safety or rules()

    def __call__(self, turn: Turn) -> None:
        turn.nlu.safety = self.rules.category(turn.nlu.normalized) or ""
        if turn.nlu.safety:
            turn.trace.record("safety", turn.nlu.safety)
