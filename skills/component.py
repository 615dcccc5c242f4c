"""Skills as a component: the registry of installed skills (shared with the policy and the intent
model), the skill handler, and `dialog skills list` / `dialog skill new`."""

from __future__ import annotations

from dialog_core.component import AgentParts, BaseComponent, CommandLine, DoctorLine
from skills.api import SkillContext
from skills.registry import SkillRegistry


class SkillsComponent(BaseComponent):
    name = "skills"
    order = 20
    registry: SkillRegistry | None = None

    def build(self, parts: AgentParts) -> None:
        from skills.handler import SkillHandler

        registry = parts.find(SkillRegistry) or SkillRegistry.discover(parts.settings)
        registry.bind(SkillContext(parts.settings, parts.services))  # each skill gets settings and services
        parts.share(SkillRegistry, registry)
        parts.add_handler("skill", SkillHandler(registry))
        self.registry = registry

    def add_commands(self, cli: CommandLine) -> None:
        from skills.cli import skill_app, skills_app

        cli.add("skills", skills_app)
        cli.add("skill", skill_app)

    def describe(self) -> list[DoctorLine]:
        names = ", ".join(skill.name for skill in self.registry or []) or "none installed"
        return [DoctorLine("skills", names)]
