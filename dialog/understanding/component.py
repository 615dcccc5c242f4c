"""Understanding as a component: its stages around the other components' (the knowledge package
links entities between reading and classifying), the intent model's setup step, `dialog train
intent`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dialog_core.component import AgentParts, BaseComponent, CommandLine, Progress, SetupStep
from skills.registry import SkillRegistry

if TYPE_CHECKING:
    from dialog_core.services import Services
    from dialog_core.settings import Settings


class UnderstandingComponent(BaseComponent):
    """read: normalise -> language -> safety -> contextual rewrite; classify: intent; signals: emotion
    -> dialogue act -> whether a proposed topic was taken up -> profile facts -> empathy signal."""

    name = "understanding"
    order = 30

    def setup_steps(self) -> Sequence[SetupStep]:
        return [IntentModelStep()]

    def build(self, parts: AgentParts) -> None:
        from dialog.safety import SafetyCheck
        from dialog.topic import ObserveTopicAcceptance, TopicAcceptance
        from dialog.understanding.acts import DialogueActs
        from dialog.understanding.basic import DetectLanguage, Normalize
        from dialog.understanding.emotion import DetectEmotion, EmotionDetector, EmotionLexicons
        from dialog.understanding.empathy import EmpathySignal
        from dialog.understanding.intent import ClassifyIntent, load_or_train
        from dialog.understanding.profile import ExtractProfile
        from dialog.understanding.rewrite import RewriteQuery

        for stage in (Normalize(), DetectLanguage(), SafetyCheck(), RewriteQuery()):
            parts.add_stage(stage, "read")
        intent = load_or_train(parts.settings.home, parts.need(SkillRegistry))  # retrained if skills changed
        parts.add_stage(ClassifyIntent(intent), "classify")
        lexicons = EmotionLexicons()
        lexicons.warm_up()
        acceptance = TopicAcceptance(parts.services.redis, parts.settings.key_prefix)
        for signal in (DetectEmotion(EmotionDetector(lexicons)), DialogueActs(),
                       ObserveTopicAcceptance(acceptance), ExtractProfile(), EmpathySignal()):  # fmt: skip
            parts.add_stage(signal, "signals")

    def add_commands(self, cli: CommandLine) -> None:
        from dialog.understanding.cli import train_intent

        cli.group("train").command("intent")(train_intent)


class IntentModelStep:
    """`dialog setup`: train the intent classifier for the installed skills (if not current)."""

    name = "intent model"

    def ready(self, settings: Settings, services: Services) -> bool:
        from dialog.understanding.intent import IntentModel, fingerprint, model_dir

        model = IntentModel.load(model_dir(settings.home))
        return model is not None and model.fingerprint == fingerprint(SkillRegistry.discover(settings))

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        from dialog.understanding.intent import load_or_train

        model = load_or_train(settings.home, SkillRegistry.discover(settings))
        return f"trained ({len(model.labels)} intents)"
