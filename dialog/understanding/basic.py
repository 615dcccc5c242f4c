"""Baseline understanding stages: normalisation and language detection.

Intent, emotion, contextual rewriting, entity linking and profile extraction plug in as further
`UnderstandingStage`s (see `dialog_core.turn`).
"""

from __future__ import annotations

import re
import unicodedata

from dialog_core.text import detect_language, simplified
from dialog_core.turn import Turn

_SPACES = re.compile(r"\s+")


class Normalize:
    """Unicode NFKC (full-width to half-width, compatibility forms) and collapsed whitespace. The form
    the later stages read (`rewritten`) also has traditional Chinese characters as simplified ones:
    the models and corpora are simplified; `normalized` keeps the user's own script (names, slots)."""

    name = "normalize"

    def __call__(self, turn: Turn) -> None:
        text = _SPACES.sub(" ", unicodedata.normalize("NFKC", turn.text)).strip()
        turn.nlu.normalized = text
        turn.nlu.rewritten = simplified(text)


class DetectLanguage:
    name = "language"

    def __call__(self, turn: Turn) -> None:
        turn.nlu.language = detect_language(turn.nlu.normalized)
