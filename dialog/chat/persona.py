"""The bot's persona (data/chat/persona.yaml): name, facts, and claims it must not make."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from dialog_core.settings import SHIPPED_DATA_DIR

PERSONA_FILE = SHIPPED_DATA_DIR / "chat" / "persona.yaml"


@dataclass(frozen=True)
class Persona:
    name: dict[str, str]
    facts: dict[str, list[str]]
    conflicts: dict[str, list[re.Pattern[str]]]

    @classmethod
    def load(cls, path: Path = PERSONA_FILE) -> Persona:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
        return cls(
            name=raw["name"],
            facts=raw["facts"],
            conflicts={
                lang: [re.compile(p, re.IGNORECASE) for p in ps] for lang, ps in raw["conflicts"].items()
            },
        )

    def all_facts(self) -> list[str]:
        return [fact for facts in self.facts.values() for fact in facts]

    def conflicts_with(self, text: str) -> bool:
        return any(p.search(text) for patterns in self.conflicts.values() for p in patterns)

    def describe(self, language: str) -> str:
        """A system prompt for a pretrained chat model."""
        return " ".join(self.facts.get(language) or self.facts["en"])
