"""Empathy signals for ranking: the emotion a reply should carry, and each candidate's emotion.

Candidates are read with the same detector that understanding uses on the user's message
(dialog.understanding.emotion), so the two sides are measured alike.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from dialog_core.turn import Emotion

# The response emotion the user's state calls for: (label, polarity). Comfort a sad or anxious user
# with warm, mildly positive words; meet anger calmly; share joy.
DESIRED: dict[str, tuple[str, float]] = {
    "happy": ("happy", 0.6),
    "sad": ("caring", 0.3),
    "anxious": ("caring", 0.3),
    "angry": ("caring", 0.0),
    "neutral": ("neutral", 0.1),
}
CARING = {
    "en": ("sorry", "understand", "hope", "don't worry", "it's ok", "it's okay", "here for you",
           "believe in you", "take care", "that's hard", "normal to feel"),
    "zh": ("抱歉", "对不起", "理解", "别担心", "不要担心", "没关系", "会好起来", "相信你", "心疼", "陪着你",
           "别难过", "别生气", "很正常"),
}  # fmt: skip


class EmotionReader(Protocol):
    def detect(self, text: str, language: str) -> Emotion: ...


@cache
def default_reader() -> EmotionReader:
    from dialog.understanding.emotion import EmotionDetector, EmotionLexicons

    return EmotionDetector(EmotionLexicons())


def desired_response(user: Emotion) -> tuple[str, float]:
    return DESIRED.get(user.label, DESIRED["neutral"])


def is_caring(text: str, language: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in CARING.get(language, CARING["en"]))
