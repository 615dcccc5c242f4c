"""Knowledge-graph candidates: fact sentences about the entities linked in the turn
("tell me about Kenya"), contributed by the knowledge package's FactSource."""

from __future__ import annotations

from dialog.chat.core import Candidate
from dialog_core.turn import FactSource, Turn


class KgGenerator:
    name = "kg"

    def __init__(self, facts: FactSource, limit: int = 3) -> None:
        self.facts = facts
        self.limit = limit

    def candidates(self, turn: Turn) -> list[Candidate]:
        """The source's facts in its order; the first scores highest (1.0, 0.9, ...)."""
        found = self.facts.facts(turn, self.limit)
        return [
            Candidate(text=text, source=self.name, score=round(1.0 - 0.1 * i, 2))
            for i, text in enumerate(found)
        ]
