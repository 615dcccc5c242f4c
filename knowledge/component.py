"""Knowledge as a component: the world graph's setup step, the entity stages, KBQA, the fact source
and `dialog kg`."""

from __future__ import annotations

from collections.abc import Sequence

from dialog_core.component import AgentParts, BaseComponent, CommandLine, SetupStep
from dialog_core.turn import KBQA, FactSource


class KnowledgeComponent(BaseComponent):
    name = "knowledge"
    order = 10

    def setup_steps(self) -> Sequence[SetupStep]:
        from knowledge import WorldGraphStep

        return [WorldGraphStep()]

    def build(self, parts: AgentParts) -> None:
        from knowledge import build_knowledge

        knowledge = build_knowledge(parts.settings, parts.services)
        for stage in knowledge.stages:
            parts.add_stage(stage, "entities")
        parts.add_handler(KBQA, knowledge.kbqa)
        if knowledge.facts is not None:
            parts.share(FactSource, knowledge.facts)

    def add_commands(self, cli: CommandLine) -> None:
        from knowledge.cli import kg_commands

        cli.add("kg", kg_commands(cli.connect))
