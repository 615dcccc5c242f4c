"""Understanding: the stages that turn a raw message into `Understanding` (see `dialog.turn`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialog.turn import UnderstandingStage
from dialog.understanding.basic import DetectLanguage, Normalize, detect_language

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from knowledge import Knowledge
    from skills.registry import SkillRegistry


def default_stages(
    settings: Settings, services: Services, skills: SkillRegistry, knowledge: Knowledge
) -> list[UnderstandingStage]:
    return [Normalize(), DetectLanguage(), *knowledge.stages]


__all__ = ["DetectLanguage", "Normalize", "default_stages", "detect_language"]
