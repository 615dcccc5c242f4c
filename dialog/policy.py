"""Hierarchical policy (XiaoIce-style): an active skill continues > a confident skill >
a knowledge question with a linked entity > core chat. Editorial answers last."""

from __future__ import annotations

from dialog.turn import CHITCHAT, EDITORIAL, KBQA, SKILL_PREFIX, Decision, Turn
from skills.registry import SkillRegistry

KNOWLEDGE_INTENT = "knowledge"


class HierarchicalPolicy:
    def __init__(self, skills: SkillRegistry, skill_threshold: float) -> None:
        self.skills = skills
        self.skill_threshold = skill_threshold

    def decide(self, turn: Turn) -> Decision:
        active = turn.state.active_skill
        if active and self.skills.get(active):
            return Decision(
                SKILL_PREFIX + active, f"skill '{active}' is active and continues", (CHITCHAT, EDITORIAL)
            )
        scored = [(skill.can_handle(turn), skill.name) for skill in self.skills]
        turn.trace.record("skill_scores", {name: round(score, 3) for score, name in scored})
        if scored:
            best_score, best = max(scored)
            if best_score >= self.skill_threshold:
                return Decision(
                    SKILL_PREFIX + best,
                    f"skill '{best}' scored {best_score:.2f} >= {self.skill_threshold}",
                    (CHITCHAT, EDITORIAL),
                )
        if turn.nlu.intent.name == KNOWLEDGE_INTENT or turn.nlu.entities:
            return Decision(KBQA, "a knowledge question or a linked entity", (CHITCHAT, EDITORIAL))
        return Decision(CHITCHAT, "no skill or knowledge question: core chat", (EDITORIAL,))
