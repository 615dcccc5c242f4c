"""Editorial responses: curated bilingual lines for fallbacks, prompts and apologies."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from dialog.settings import SHIPPED_DATA_DIR
from dialog.turn import EDITORIAL, HandlerResult, Language, Turn

KINDS = ("fallback", "empty", "too_long", "error")


class EditorialResponses:
    def __init__(self, lines: dict[str, dict[str, list[str]]], seed: int | None = None) -> None:
        for kind in KINDS:
            for language in ("en", "zh"):
                if not lines.get(kind, {}).get(language):
                    raise ValueError(f"editorial responses lack '{kind}' lines in '{language}'")
        self._lines = lines
        self._random = random.Random(seed)

    @classmethod
    def load(cls, path: Path = SHIPPED_DATA_DIR / "editorial.yaml") -> EditorialResponses:
        with open(path, encoding="utf-8") as handle:
            return cls(yaml.safe_load(handle))

    def pick(self, kind: str, language: Language, avoid: str | None = None, **values: object) -> str:
        options = [line.format(**values) for line in self._lines[kind][language]]
        fresh = [line for line in options if line != avoid] or options
        return self._random.choice(fresh)


class EditorialHandler:
    """The last resort: always answers, never with the line it gave just before."""

    def __init__(self, responses: EditorialResponses) -> None:
        self.responses = responses

    def handle(self, turn: Turn, route: str) -> HandlerResult:
        text = self.responses.pick("fallback", turn.nlu.language, avoid=turn.state.last_bot_reply())
        return HandlerResult(text, EDITORIAL)
