"""Skill discovery: the `dialog.skills` entry-point group, plus skills passed in directly."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from skills.api import Skill

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "dialog.skills"


class SkillRegistry:
    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._skills: dict[str, Skill] = {}
        for skill in skills:
            self.add(skill)

    @classmethod
    def discover(cls) -> SkillRegistry:
        registry = cls()
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                registry.add(entry_point.load()())
            except Exception:  # a broken plugin must not stop the agent
                log.exception("skill entry point %s could not be loaded", entry_point.name)
        return registry

    def add(self, skill: Skill) -> None:
        if skill.name in self._skills:
            raise ValueError(f"two skills are named '{skill.name}'")
        self._skills[skill.name] = skill

    def get(self, name: str) -> Skill | None:
        return self._skills.get(name)

    def __iter__(self):
        return iter(self._skills.values())

    def __len__(self) -> int:
        return len(self._skills)
