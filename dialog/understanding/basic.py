"""Baseline understanding stages: normalisation and language detection.

Intent, emotion, contextual rewriting, entity linking and profile extraction plug in as further
`UnderstandingStage`s (see `dialog.turn`).
"""

from __future__ import annotations

import re
import unicodedata

from dialog.turn import Language, Turn

_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> Language:
    """Chinese when CJK ideographs are at least a third of the letters, else English."""
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN.findall(text)) / 4  # ~4 letters carry what one ideograph carries
    return "zh" if cjk and cjk >= latin_words / 2 else "en"


class Normalize:
    """Unicode NFKC (full-width to half-width, compatibility forms) and collapsed whitespace. The form
    the later stages read (`rewritten`) also has traditional Chinese characters as simplified ones:
    the models and corpora are simplified; `normalized` keeps the user's own script (names, slots)."""

    name = "normalize"

    def __call__(self, turn: Turn) -> None:
        from knowledge.text import simplified  # here: knowledge imports this package

        text = _SPACES.sub(" ", unicodedata.normalize("NFKC", turn.text)).strip()
        turn.nlu.normalized = text
        turn.nlu.rewritten = simplified(text)


class DetectLanguage:
    name = "language"

    def __call__(self, turn: Turn) -> None:
        turn.nlu.language = detect_language(turn.nlu.normalized)
