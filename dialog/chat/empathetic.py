"""Empathetic editorial replies (data/empathy.yaml): chosen by the kind of news the user tells, their
emotion and dialogue act, and naming the subject they spoke of ("I'm so sorry about your dog. How
are you holding up?"). The line that would fit any message (data/editorial.yaml `fallback`) is the
last resort, after these."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dialog.understanding.acts import ACKNOWLEDGEMENT, ANSWER, ASK_BACK, EMPATHY_FILE, QUESTION, STATEMENT
from dialog_core.turn import Turn

_TO_THE_BOT = re.compile(r"\byou\b|\byour\b|\bu\b|你|您", re.IGNORECASE)
_THANKS = re.compile(r"\b(?:thanks|thank you|thx|ty)\b|谢谢|多谢|谢了", re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    text: str
    kind: str  # what chose it, for the trace: "disclosure:loss", "emotion:sad", "act:ask_back"...


class EmpatheticReplies:
    def __init__(self, data: dict[str, Any], seed: int | None = None) -> None:
        self.data = data
        self._random = random.Random(seed)

    @classmethod
    def load(cls, path: Path = EMPATHY_FILE) -> EmpatheticReplies:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    def choose(self, turn: Turn, avoid: str | None = None) -> Choice | None:
        """The reply for this turn, or None when nothing here fits better than a last-resort line."""
        nlu = turn.nlu
        language, subject = nlu.language, nlu.subject
        emotion = nlu.emotion.label
        if nlu.unresolved:  # "what's your favorite one?" out of the blue: ask, do not guess
            return self._one(self.data["acts"]["clarify"][language], {}, avoid, "act:clarify")
        if nlu.disclosure:  # a kind of news, or strong feelings no cue names (the emotion's lines)
            spec = self.data["disclosures"].get(nlu.disclosure) or self.data["emotions"][emotion]
            return self._pick(spec, language, subject, avoid, f"disclosure:{nlu.disclosure}")
        if nlu.news:
            after = self.data["after_news"]
            if _THANKS.search(nlu.normalized):
                return self._one(after["thanks"][language], {}, avoid, "news:thanks")
            return self._pick(after[nlu.news], language, subject, avoid, f"news:{nlu.news}")
        if nlu.act == ASK_BACK:
            return Choice(self._opinion(turn), "act:ask_back")
        if nlu.act == QUESTION and _TO_THE_BOT.search(nlu.normalized):  # "do you like movies?"
            opinion = self._opinion_on(nlu.normalized, language)
            if opinion:
                return Choice(opinion, "act:question:opinion")
        if nlu.act == ANSWER:
            polarity = nlu.emotion.polarity
            mood = "negative" if emotion in ("sad", "angry", "anxious") or polarity < -0.2 else (
                "positive" if emotion == "happy" or polarity > 0.2 else "neutral")  # fmt: skip
            lines = self.data["acts"]["answer"][mood][language]
            return self._one(lines, {}, avoid, f"act:answer:{mood}")
        if emotion in self.data["emotions"]:
            return self._pick(self.data["emotions"][emotion], language, subject, avoid, f"emotion:{emotion}")
        if nlu.act in (QUESTION, ACKNOWLEDGEMENT, STATEMENT):
            return self._pick(self.data["acts"][nlu.act], language, subject, avoid, f"act:{nlu.act}")
        return None

    def _pick(self, spec: dict, language: str, subject: str, avoid: str | None, kind: str) -> Choice | None:
        if subject and spec.get("with_subject", {}).get(language):
            values = {"subject": subject, "subject_cap": subject[:1].upper() + subject[1:]}
            return self._one(spec["with_subject"][language], values, avoid, kind)
        lines = spec.get("without", {}).get(language)
        return self._one(lines, {}, avoid, kind) if lines else None

    def _one(self, lines: list[str], values: dict[str, str], avoid: str | None, kind: str) -> Choice:
        options = [line.format(**values) for line in lines]
        fresh = [line for line in options if line != avoid] or options
        return Choice(self._random.choice(fresh), kind)

    def _opinion(self, turn: Turn) -> str:
        """The persona's own answer about the subject of the last exchange ("what about you?" after
        talk of films: its favourite films)."""
        language = turn.nlu.language
        last = turn.state.history[-1] if turn.state.history else None
        for said in [turn.nlu.normalized, *((last.user, last.reply) if last else ())]:  # the nearest first
            opinion = self._opinion_on(said, language)
            if opinion:
                return opinion
        return self._random.choice(self.data["opinions"]["fallback"][language])

    def _opinion_on(self, said: str, language: str) -> str | None:
        for spec in self.data["opinions"]["subjects"]:
            if any(_names(said.lower(), word.lower(), language) for word in spec["keywords"][language]):
                return self._random.choice(spec[language])
        return None


def _names(text: str, word: str, language: str) -> bool:
    if language == "zh":
        return word in text
    return re.search(rf"\b{re.escape(word)}\b", text) is not None
