"""Core chat as a component: its setup steps (index, generator, matcher, ranker), the chitchat
handler, `dialog index`, `dialog train generator|matcher|ranker`, `dialog generator serve`, and its
lines of `dialog doctor`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialog.chat import artifacts
from dialog.chat.core import CoreChat
from dialog_core.component import AgentParts, BaseComponent, CommandLine, DoctorLine, SetupStep
from dialog_core.turn import CHITCHAT, FactSource

if TYPE_CHECKING:
    from dialog_core.component import Progress
    from dialog_core.services import Services
    from dialog_core.settings import Settings


class CoreChatComponent(BaseComponent):
    name = "core chat"
    order = 40
    chat: CoreChat | None = None

    def setup_steps(self) -> Sequence[SetupStep]:
        """What `dialog setup` prepares for core chat (in order), each skipped when already there."""
        return [
            _Step("core chat: retrieval index", "index"),
            _Step("core chat: neural generator", "generator"),
            _Step("core chat: response matcher", "matcher"),
            _Step("core chat: ranker", "ranker"),
        ]

    def build(self, parts: AgentParts) -> None:
        from dialog.chat.assembly import build

        self.chat = build(parts.settings, parts.find(FactSource), parts.services)
        parts.add_handler(CHITCHAT, self.chat)

    def add_commands(self, cli: CommandLine) -> None:
        from dialog.chat.cli import generator_app, index_app, train_generator, train_matcher, train_ranker

        cli.add("index", index_app)
        cli.add("generator", generator_app)
        train = cli.group("train")
        train.command("ranker")(train_ranker)
        train.command("matcher")(train_matcher)
        train.command("generator")(train_generator)

    def describe(self) -> list[DoctorLine]:
        from dialog.chat.features import FeatureExtractor
        from dialog.chat.neural import NeuralGenerator

        chat = self.chat
        generators = chat.generators if chat else []
        features = chat.featurizer if chat and isinstance(chat.featurizer, FeatureExtractor) else None
        neural = next((g for g in generators if isinstance(g, NeuralGenerator)), None)
        matcher = features.matcher if features else None
        index = features.index if features else None
        names = ", ".join(g.name for g in generators) or "none (editorial only)"
        trained = f"trained {matcher.meta.get('pairs', '?')} pairs" if matcher else "none"
        return [
            DoctorLine("core chat generators", names),
            DoctorLine("core chat language model", neural.lm.name if neural else "none"),
            DoctorLine("core chat ranker", chat.ranker.name if chat else "none"),
            DoctorLine("core chat encoder", features.embedder.model_name if features else "none"),
            DoctorLine("core chat dense search", index.dense.description if index else "none (no index)"),
            DoctorLine("core chat matcher", trained),
        ]


@dataclass(frozen=True)
class _Step:
    name: str
    artifact: str  # "index" | "generator" (the shipped pretrained model) | "matcher" | "ranker"

    def ready(self, settings: Settings, services: Services) -> bool:
        if self.artifact == "index":
            from dialog.chat.index import is_current, is_published

            return is_current(
                settings.home, settings.chat_gloss_chinese, settings.chat_embedding_model
            ) and is_published(settings, services)
        if self.artifact == "matcher":
            from dialog.chat.matcher import is_current as matcher_is_current

            return matcher_is_current(settings.home)
        if self.artifact == "ranker":
            from dialog.chat.ranker import is_current as ranker_is_current

            return ranker_is_current(settings.home)
        if self.artifact == "generator":
            from dialog.chat.shipped_model import is_prepared

            return is_prepared(settings)
        return artifacts.exists(getattr(artifacts, f"{self.artifact}_dir")(settings.home))

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        from dialog.chat import training
        from dialog.chat.assembly import Parts
        from dialog.chat.index import is_current, publish

        if self.artifact == "index":
            if is_current(settings.home, settings.chat_gloss_chinese, settings.chat_embedding_model):
                vectors = Parts(settings, services=services).shared_vectors
                assert vectors is not None  # not published (see ready): a shared vector set is configured
                count = publish(settings.home, vectors, progress)
                return f"published the index's {count} text vectors in the shared vector set"
            meta = training.build_index(settings, [], progress=progress, services=services)
            held, shared = (
                meta["heldout_pairs"],
                " and in the shared vector set" if meta["shared_vectors"] else "",
            )
            return (f"indexed {meta['pairs']} pairs ({held} held out: answered, never trained on), "
                    f"{meta['texts']} distinct texts encoded{shared}")  # fmt: skip
        if self.artifact == "generator":
            from dialog.chat.shipped_model import prepare

            meta = prepare(settings.home, progress=progress)
            return f"{meta['model']}: verified (sha256) and converted in {meta['seconds']} s"
        if self.artifact == "matcher":
            meta = training.train_matcher(settings, progress=progress)
            return f"trained on {meta['pairs']} pairs in {meta['seconds']} s (loss {meta['final_loss']})"
        meta = training.train_ranker(settings, progress=progress)
        held = meta["heldout"]["ranker"]
        return f"held-out NDCG@1 {held['ndcg@1']}, R@1 {held['r@1']}, 1-in-10 R@1 {meta['one_in_ten_r@1']}"
