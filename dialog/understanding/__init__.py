"""Understanding: the stages that turn a raw message into `Understanding` (see `dialog.turn`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialog.turn import UnderstandingStage
from dialog.understanding.basic import DetectLanguage, Normalize, detect_language
from dialog.understanding.emotion import DetectEmotion, EmotionDetector, EmotionLexicons
from dialog.understanding.empathy import EmpathySignal
from dialog.understanding.intent import ClassifyIntent, load_or_train
from dialog.understanding.profile import ExtractProfile
from dialog.understanding.rewrite import RewriteQuery

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from knowledge import Knowledge
    from skills.registry import SkillRegistry


def default_stages(
    settings: Settings, services: Services, skills: SkillRegistry, knowledge: Knowledge
) -> list[UnderstandingStage]:
    """normalise -> language -> contextual rewrite -> entities (knowledge) -> intent -> emotion ->
    profile facts -> empathy signal. Loads (or, when the skill set changed, retrains) the intent model."""
    lexicons = EmotionLexicons()
    lexicons.warm_up()
    return [
        Normalize(),
        DetectLanguage(),
        RewriteQuery(),
        *knowledge.stages,
        ClassifyIntent(load_or_train(settings.home, skills)),
        DetectEmotion(EmotionDetector(lexicons)),
        ExtractProfile(),
        EmpathySignal(),
    ]


__all__ = ["DetectLanguage", "Normalize", "default_stages", "detect_language"]
