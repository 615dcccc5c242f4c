"""The skill API: what a plugin declares and implements.

A skill says how sure it is that it should take a turn (`can_handle`, 0..1) and then handles it.
It keeps the turn (an open form, a question it asked) by returning `done=False`; the policy then
sends the user's next message to it before anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from dialog.turn import Turn


@dataclass(frozen=True)
class SkillResult:
    text: str
    done: bool = True


class Skill(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    # intent name -> example utterances in English and Chinese (the intent classifier learns from them)
    intents: ClassVar[dict[str, list[str]]] = {}

    @abstractmethod
    def can_handle(self, turn: Turn) -> float:
        """Confidence (0..1) that this skill should take the turn."""

    @abstractmethod
    def handle(self, turn: Turn) -> SkillResult:
        """Answer the turn. Private state lives in `self.memory(turn)`, saved with the dialogue state."""

    def memory(self, turn: Turn) -> dict[str, Any]:
        return turn.state.skill_data.setdefault(self.name, {})
