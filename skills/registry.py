"""The installed skills: where each came from, whether it is enabled, and safe scoring.

`SkillRegistry.discover(settings)` loads the `dialog.skills` entry-point group and the skills
folder (see `skills.discovery`) and applies the enable/disable settings. Iterating a registry
yields the enabled skills; `entries` also lists disabled and broken ones with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialog.turn import Turn
from skills.api import SKILL_NAME, Skill, SkillContext
from skills.runner import Call, call_with_timeout

if TYPE_CHECKING:
    from dialog.settings import Settings

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "dialog.skills"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_SCORE_TIMEOUT_S = 1.0
ENABLED = "enabled"


@dataclass
class SkillEntry:
    """One skill as discovered: `skill` is None when it could not be loaded."""

    name: str
    source: str
    status: str = ENABLED  # "enabled", "disabled: <why>" or "error: <one sentence>"
    skill: Skill | None = None

    @property
    def enabled(self) -> bool:
        return self.status == ENABLED and self.skill is not None


class SkillRegistry:
    def __init__(self, skills: Iterable[Skill] = (), *, settings: Settings | None = None) -> None:
        self._entries: dict[str, SkillEntry] = {}
        self.timeout_s = settings.skill_timeout_s if settings else DEFAULT_TIMEOUT_S
        self.score_timeout_s = settings.skill_score_timeout_s if settings else DEFAULT_SCORE_TIMEOUT_S
        for skill in skills:
            self.add(skill)

    @classmethod
    def discover(cls, settings: Settings | None = None) -> SkillRegistry:
        """Entry points and the skills folder, filtered by the enable/disable settings."""
        from skills.discovery import discover_entries

        registry = cls(settings=settings)
        for entry in discover_entries(settings):
            registry.add_entry(entry)
        return registry

    # ------------------------------------------------------------------ contents

    def add(self, skill: Skill, source: str = "given") -> None:
        """Add a skill object directly (tests, embedding applications)."""
        check_name(skill)
        if skill.name in self._entries:
            raise ValueError(f"two skills are named '{skill.name}'")
        self._entries[skill.name] = SkillEntry(skill.name, source, ENABLED, skill)

    def add_entry(self, entry: SkillEntry) -> None:
        """Add a discovered entry; a second skill with a taken name is kept as an error entry."""
        if entry.name in self._entries:
            first = self._entries[entry.name].source
            entry.status = f"error: the name '{entry.name}' is already taken by {first}."
            entry.skill = None
            self._entries[f"{entry.name}@{entry.source}"] = entry
            return
        self._entries[entry.name] = entry

    @property
    def entries(self) -> list[SkillEntry]:
        return list(self._entries.values())

    def get(self, name: str) -> Skill | None:
        entry = self._entries.get(name)
        return entry.skill if entry and entry.enabled else None

    def __iter__(self) -> Iterator[Skill]:
        return iter([entry.skill for entry in self._entries.values() if entry.enabled and entry.skill])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # ------------------------------------------------------------------ running

    def bind(self, context: SkillContext) -> None:
        """Hand each skill the agent's settings and services; a skill whose setup fails is disabled."""
        self.timeout_s = context.settings.skill_timeout_s
        self.score_timeout_s = context.settings.skill_score_timeout_s
        for entry in self._entries.values():
            if not entry.enabled or entry.skill is None:
                continue
            try:
                call_with_timeout(
                    entry.skill.setup, context, timeout_s=self.timeout_for(entry.skill),
                    what=f"skill '{entry.name}' setup",
                )  # fmt: skip
            except Exception as error:
                log.exception("skill %s failed to set up", entry.name)
                entry.status = f"error: setup failed: {error}"

    def timeout_for(self, skill: Skill) -> float:
        return skill.timeout_s or self.timeout_s

    def scores(self, turn: Turn) -> dict[str, float]:
        """Every enabled skill's `can_handle` score, run side by side under the score time limit.

        A skill that raises, hangs or returns something other than a number in 0..1 scores 0;
        the failure is logged and recorded in the trace under `skill_score_errors`.
        """
        calls = {
            skill.name: Call(
                skill.can_handle,
                turn,
                timeout_s=self.score_timeout_s,
                what=f"skill '{skill.name}' can_handle",
            )
            for skill in self
        }
        scores: dict[str, float] = {}
        errors: dict[str, str] = {}
        for name, call in calls.items():
            try:
                value = float(call.result())
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"can_handle returned {value}, not a score between 0 and 1")
            except Exception as error:
                log.warning("skill %s can_handle failed: %s", name, error)
                value, errors[name] = 0.0, f"{type(error).__name__}: {error}"
            scores[name] = value
        if errors:
            turn.trace.record("skill_score_errors", errors)
        return scores


def check_name(skill: Skill) -> None:
    name = getattr(skill, "name", None)
    if not isinstance(name, str) or not SKILL_NAME.match(name):
        raise ValueError(
            f"skill {type(skill).__name__} needs a name of lowercase letters, digits and underscores, "
            f"not {name!r}"
        )
