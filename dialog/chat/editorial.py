"""Editorial responses: curated bilingual lines for fallbacks, prompts and apologies."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from dialog.chat.empathetic import Choice, EmpatheticReplies
from dialog.safety import SafetyRules, rules
from dialog_core.settings import SHIPPED_DATA_DIR
from dialog_core.turn import EDITORIAL, HandlerResult, Language, Turn

KINDS = ("fallback", "empty", "too_long", "error")
LAST_RESORT = "last resort"  # the trace's kind of a line that would fit any message


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
    """Always answers, never with the line it gave just before: an empathetic reply chosen by what the
    user said when one fits (dialog.chat.empathetic), a line that fits any message as the last resort."""

    def __init__(
        self,
        responses: EditorialResponses,
        empathetic: EmpatheticReplies | None = None,
        safety: SafetyRules | None = None,
    ) -> None:
        self.responses = responses
        self.empathetic = empathetic
        self.safety = safety or rules()
        self._random = random.Random()

    def handle(self, turn: Turn, route: str) -> HandlerResult:
        last = turn.state.last_bot_reply()
        if turn.nlu.safety:
            text = self.safety.reply(turn.nlu.safety, turn.nlu.language, last, self._random)
            turn.trace.record("editorial", {"kind": f"safety:{turn.nlu.safety}", "subject": ""})
            return HandlerResult(text, EDITORIAL)
        choice = self.empathetic.choose(turn, avoid=last) if self.empathetic else None
        if choice is None:
            choice = Choice(self.responses.pick("fallback", turn.nlu.language, avoid=last), LAST_RESORT)
        turn.trace.record("editorial", {"kind": choice.kind, "subject": turn.nlu.subject})
        return HandlerResult(choice.text, EDITORIAL)
