"""Runs the skill a decision names and keeps it active while it says it is not done."""

from __future__ import annotations

from dialog.turn import SKILL_PREFIX, HandlerResult, Turn
from skills.registry import SkillRegistry


class SkillHandler:
    def __init__(self, skills: SkillRegistry) -> None:
        self.skills = skills

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        skill = self.skills.get(route.removeprefix(SKILL_PREFIX))
        if skill is None:
            return None
        result = skill.handle(turn)
        turn.state.active_skill = None if result.done else skill.name
        return HandlerResult(result.text, route)
