"""Core chat: candidate generators, ranking, selection and editorial responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialog.chat import artifacts
from dialog.chat.core import CoreChat, GeneratorScoreRanker

if TYPE_CHECKING:
    from dialog.runtime.services import Services
    from dialog.settings import Settings
    from dialog.setup import Progress, SetupStep
    from knowledge import Knowledge


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
            from dialog.chat.matcher import is_current

            return is_current(settings.home)
        if self.artifact == "ranker":
            from dialog.chat.ranker import is_current

            return is_current(settings.home)
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
                count = publish(settings.home, Parts(settings, services=services).shared_vectors, progress)
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


def setup_steps() -> list[SetupStep]:
    """What `dialog setup` prepares for core chat (in order), each skipped when already there."""
    return [
        _Step("core chat: retrieval index", "index"),
        _Step("core chat: neural generator", "generator"),
        _Step("core chat: response matcher", "matcher"),
        _Step("core chat: ranker", "ranker"),
    ]


def build_core_chat(settings: Settings, services: Services, knowledge: Knowledge) -> CoreChat:
    from dialog.chat.assembly import build

    return build(settings, knowledge, services)


__all__ = ["CoreChat", "GeneratorScoreRanker", "build_core_chat", "setup_steps"]
