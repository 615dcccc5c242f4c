"""Understanding: the stages that turn a raw message into `Understanding` (see `dialog.turn`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialog.safety import SafetyCheck
from dialog.topic import ObserveTopicAcceptance, TopicAcceptance
from dialog.turn import UnderstandingStage
from dialog.understanding.acts import DialogueActs
from dialog.understanding.basic import DetectLanguage, Normalize, detect_language
from dialog.understanding.emotion import DetectEmotion, EmotionDetector, EmotionLexicons
from dialog.understanding.empathy import EmpathySignal
from dialog.understanding.intent import ClassifyIntent, IntentModel, fingerprint, load_or_train, model_dir
from dialog.understanding.profile import ExtractProfile
from dialog.understanding.rewrite import RewriteQuery

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from dialog.setup import Progress, SetupStep
    from knowledge import Knowledge
    from skills.registry import SkillRegistry


def default_stages(
    settings: Settings, services: Services, skills: SkillRegistry, knowledge: Knowledge
) -> list[UnderstandingStage]:
    """normalise -> language -> safety -> contextual rewrite -> entities (knowledge) -> intent -> emotion ->
    dialogue act -> whether a proposed topic was taken up -> profile facts -> empathy signal. Loads
    (or, when the skill set changed, retrains) the intent model."""
    lexicons = EmotionLexicons()
    lexicons.warm_up()
    return [
        Normalize(),
        DetectLanguage(),
        SafetyCheck(),
        RewriteQuery(),
        *knowledge.stages,
        ClassifyIntent(load_or_train(settings.home, skills)),
        DetectEmotion(EmotionDetector(lexicons)),
        DialogueActs(),
        ObserveTopicAcceptance(TopicAcceptance(services.redis, settings.key_prefix)),
        ExtractProfile(),
        EmpathySignal(),
    ]


class IntentModelStep:
    """`dialog setup`: train the intent classifier for the installed skills (if not current)."""

    name = "intent model"

    def ready(self, settings: Settings, services: Services) -> bool:
        from skills.registry import SkillRegistry

        model = IntentModel.load(model_dir(settings.home))
        return model is not None and model.fingerprint == fingerprint(SkillRegistry.discover(settings))

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        from skills.registry import SkillRegistry

        model = load_or_train(settings.home, SkillRegistry.discover(settings))
        return f"trained ({len(model.labels)} intents)"


def setup_steps() -> list[SetupStep]:
    return [IntentModelStep()]


__all__ = ["DetectLanguage", "Normalize", "default_stages", "detect_language", "setup_steps"]
