"""Dialogue management as a component: the policy, the editorial answers, the profile-memory and
topic handlers, and `dialog skill test` (it needs a whole agent, so it is the engine's)."""

from __future__ import annotations

from dialog_core.component import AgentParts, BaseComponent, CommandLine
from dialog_core.turn import EDITORIAL, TOPIC, Policy
from skills.registry import SkillRegistry


class DialogueComponent(BaseComponent):
    name = "dialogue"
    order = 50

    def build(self, parts: AgentParts) -> None:
        from dialog.chat.editorial import EditorialHandler, EditorialResponses
        from dialog.chat.empathetic import EmpatheticReplies
        from dialog.policy import MEMORY, HierarchicalPolicy
        from dialog.topic import build_topic_manager
        from dialog.understanding.profile import MemoryHandler

        skills, settings = parts.need(SkillRegistry), parts.settings
        policy = HierarchicalPolicy(skills, settings.skill_threshold, settings.knowledge_threshold)
        parts.share(Policy, policy)
        editorial = EditorialResponses.load()
        parts.share(EditorialResponses, editorial)
        parts.add_handler(MEMORY, MemoryHandler())
        parts.add_handler(TOPIC, build_topic_manager(parts.services))
        parts.add_handler(EDITORIAL, EditorialHandler(editorial, EmpatheticReplies.load()))

    def add_commands(self, cli: CommandLine) -> None:
        from dialog.skill_test_cli import test_skill

        cli.group("skill").command("test")(test_skill)
