"""Knowledge: graph store backends, importers, entity linking, KBQA and verbalisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from knowledge.kbqa import KbqaHandler

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from dialog.setup import SetupStep
    from dialog.turn import Turn, UnderstandingStage


class FactSource(Protocol):
    """Short fact sentences about the entities linked in a turn (core chat's KG candidates)."""

    def facts(self, turn: Turn, limit: int) -> list[str]: ...


@dataclass
class Knowledge:
    """What the knowledge package contributes to an agent."""

    kbqa: KbqaHandler
    stages: list[UnderstandingStage] = field(default_factory=list)  # e.g. the entity linker
    facts: FactSource | None = None


def setup_steps() -> list[SetupStep]:
    """What `dialog setup` prepares for knowledge (in order)."""
    return []


def build_knowledge(settings: Settings, services: Services) -> Knowledge:
    return Knowledge(kbqa=KbqaHandler([]))
