"""Builds core chat from settings and the artifacts in the data dir, degrading clearly:
no index -> no retrieval generator; no generator model (and no generator URL) -> no neural generator;
no knowledge facts -> no KG generator; no trained ranker -> generator scores (GeneratorScoreRanker)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dialog.chat import artifacts
from dialog.chat.core import CandidateGenerator, CoreChat, GeneratorScoreRanker, Ranker
from dialog_core.settings import Settings

if TYPE_CHECKING:
    from dialog.chat.embedding import Embedder
    from dialog.chat.empathy import EmotionReader
    from dialog.chat.features import FeatureExtractor
    from dialog.chat.index import RetrievalIndex
    from dialog.chat.lm import LanguageModel
    from dialog.chat.matcher import Matcher
    from dialog.chat.neural import NeuralGenerator
    from dialog.chat.persona import Persona
    from dialog.chat.vectors import SharedVectors
    from dialog_core.services import Services
    from dialog_core.turn import FactSource

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """The shared pieces, loaded on first use. `serving`: the running agent's, whose index answers the
    held-out split too when the settings say so (training and evaluation never see those pairs), and
    whose local generator loads in the background."""

    settings: Settings
    serving: bool = False
    services: Services | None = None

    @cached_property
    def shared_vectors(self) -> SharedVectors | None:
        """The shared Redis vector sets, when the settings ask for them and there are services."""
        if self.services is None or self.settings.chat_vector_index != "redis":
            return None
        from dialog.chat.vectors import SharedVectors

        return SharedVectors(self.services.redis, self.settings.key_prefix)

    def torch_threads(self) -> None:
        """Serving, torch works on `chat_torch_threads` threads: set when what needs torch loads (an
        encoder or cross-encoder of sentence-transformers, the local generator), as torch is imported
        only then. Per-turn inputs are one sentence: a second thread only adds hand-off jitter
        (measured: cold-turn p95 166 ms with 2 threads, 60 ms with 1), and server workers are the
        way to use more cores."""
        if self.serving:
            import torch

            torch.set_num_threads(self.settings.chat_torch_threads)

    @cached_property
    def embedder(self) -> Embedder:
        from dialog.chat.embedding import USE_MODEL, Embedder

        if self.settings.chat_embedding_model not in ("", USE_MODEL):
            self.torch_threads()
        return Embedder(self.settings.chat_embedding_model, self.settings.chat_gloss_chinese,
                        cache_dir=self.settings.home / "cache")  # fmt: skip

    @cached_property
    def persona(self) -> Persona:
        from dialog.chat.persona import Persona

        return Persona.load()

    @cached_property
    def reader(self) -> EmotionReader:
        from dialog.chat.empathy import default_reader

        return default_reader()

    @cached_property
    def index(self) -> RetrievalIndex | None:
        from dialog.chat.index import RetrievalIndex

        if not artifacts.exists(artifacts.index_dir(self.settings.home)):
            return None
        return RetrievalIndex.load(self.settings.home, self.serving and self.settings.chat_serve_heldout,
                                   self.shared_vectors)  # fmt: skip

    @cached_property
    def matcher(self) -> Matcher | None:
        from dialog.chat.matcher import Matcher

        return Matcher.load(self.settings.home)

    @cached_property
    def features(self) -> FeatureExtractor:
        from dialog.chat.features import FeatureExtractor

        cross = None
        if self.settings.chat_cross_encoder:
            self.torch_threads()
            from sentence_transformers import CrossEncoder

            cross = CrossEncoder(self.settings.chat_cross_encoder, device="cpu")
        languages = [lang.strip() for lang in self.settings.chat_dense_languages.split(",") if lang.strip()]
        embedder = self.embedder  # first: its model loads in a thread while the index loads
        return FeatureExtractor(embedder, self.persona, self.reader, self.index, languages, cross,
                                self.matcher)  # fmt: skip

    def generator_model(self) -> str | None:
        if self.settings.chat_generator_model:
            return self.settings.chat_generator_model
        prepared = artifacts.generator_dir(self.settings.home)
        return str(prepared) if artifacts.exists(prepared) else None

    @cached_property
    def language_model(self) -> LanguageModel | None:
        """The remote model when a URL is set, else the local one (None without a model or when off)."""
        if not self.settings.chat_generator_enabled:
            return None
        if self.settings.chat_generator_url:
            from dialog.chat.remote_lm import RemoteLM

            key = self.settings.chat_generator_api_key
            return RemoteLM(self.settings.chat_generator_url, self.settings.chat_generator_remote_model,
                            key.get_secret_value() if key else None)  # fmt: skip
        model = self.generator_model()
        if model is None:
            return None
        from dialog.chat.local_lm import BackgroundLM, LocalLM

        threads, seed = self.settings.chat_generator_threads, self.settings.chat_seed
        if self.serving:  # the agent starts without waiting for the model
            return BackgroundLM(model, threads=threads, seed=seed, before=self.torch_threads)
        return LocalLM(model, threads=threads, seed=seed)

    def neural(self) -> NeuralGenerator | None:
        from dialog.chat.neural import NeuralGenerator

        if self.language_model is None:
            return None
        budget_s = self.settings.chat_generator_budget_ms / 1000
        return NeuralGenerator(self.language_model, self.persona, self.reader, budget_s)


def build(settings: Settings, facts: FactSource | None, services: Services | None = None) -> CoreChat:
    from dialog.chat.kg import KgGenerator
    from dialog.chat.ranker import LightGBMRanker
    from dialog.chat.retrieval import RetrievalGenerator

    parts = Parts(settings, serving=True, services=services)
    generators: list[CandidateGenerator] = []
    if artifacts.exists(artifacts.index_dir(settings.home)):
        generators.append(RetrievalGenerator(parts.features, settings.chat_top_k))
    else:
        log.warning("no retrieval index in %s: run `dialog index build`", settings.home)
    neural = parts.neural()
    if neural is not None:
        generators.append(neural)
    if facts is not None:
        generators.append(KgGenerator(facts))
    ranker: Ranker = GeneratorScoreRanker()
    if generators and artifacts.exists(artifacts.ranker_dir(settings.home)):
        try:
            ranker = LightGBMRanker.load(settings.home)
        except artifacts.ArtifactError as error:
            log.warning("%s Falling back to generator scores.", error)
    return CoreChat(
        generators, ranker, settings.chat_threshold,
        featurizer=parts.features if generators else None,
        sample_top=settings.chat_sample_top, seed=settings.chat_seed,
        match_language=settings.chat_match_language, match_emotion=settings.chat_match_emotion,
        generated_threshold=settings.chat_generator_threshold, confident=settings.chat_generator_confident,
    )  # fmt: skip
