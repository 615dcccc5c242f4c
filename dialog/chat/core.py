"""Core chat: gather candidates from generators, rank them, select one above a threshold.

Generators (retrieval, neural, knowledge graph) and the ranker plug in through the protocols
below. Selection samples among the best candidates above the threshold that speak the user's
language (any language when none does), never one of the opposite mood, and never repeats the bot's
previous reply; with none good enough the handler declines (trace `chat_low_score`), the editorial
handler answers, and the topic manager can take the signal.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from dialog.chat.text import speaks
from dialog.turn import CHITCHAT, HandlerResult, Turn

log = logging.getLogger(__name__)
# emo_polarity_match = 1 - |candidate polarity - wanted polarity| / 2: below 0.4 they are more than 1.2
# apart on the -1..1 scale (a happy user wants +0.6: a reply at -0.6 or lower; a sad one +0.3: -0.9)
MIN_POLARITY_MATCH = 0.4


class Candidate(BaseModel):
    text: str
    source: str  # which generator proposed it
    score: float = 0.0  # the generator's own score
    features: dict[str, float] = Field(default_factory=dict)


class CandidateGenerator(Protocol):
    name: str

    def candidates(self, turn: Turn) -> list[Candidate]: ...


class Featurizer(Protocol):
    def annotate(self, turn: Turn, candidates: Sequence[Candidate]) -> None:
        """Fill each candidate's `features`."""
        ...


class Ranker(Protocol):
    name: str

    def score(self, turn: Turn, candidates: Sequence[Candidate]) -> list[float]: ...


class GeneratorScoreRanker:
    """Until a trained ranker exists: trust each generator's own score (0..1)."""

    name = "generator scores (no trained ranker: run `dialog train ranker`)"

    def score(self, turn: Turn, candidates: Sequence[Candidate]) -> list[float]:
        return [candidate.score for candidate in candidates]


class CoreChat:
    def __init__(
        self,
        generators: Sequence[CandidateGenerator],
        ranker: Ranker,
        threshold: float,
        *,
        featurizer: Featurizer | None = None,
        sample_top: int = 3,
        seed: int | None = None,
        match_language: bool = True,
        match_emotion: bool = True,
    ) -> None:
        self.generators = list(generators)
        self.ranker = ranker
        self.threshold = threshold
        self.featurizer = featurizer
        self.sample_top = sample_top
        self.match_language = match_language
        self.match_emotion = match_emotion
        self._random = random.Random(seed)

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        candidates = self.gather(turn)
        if candidates and self.featurizer is not None:
            with turn.trace.timed("chat.features"):
                self.featurizer.annotate(turn, candidates)
        with turn.trace.timed("chat.rank"):
            scores = self.ranker.score(turn, candidates) if candidates else []
        ranked = sorted(zip(scores, candidates, strict=True), key=lambda pair: -pair[0])
        turn.trace.record(
            "candidates",
            [{**c.model_dump(mode="json"), "features": _rounded(c.features), "rank_score": round(s, 4)}
             for s, c in ranked],
        )  # fmt: skip
        language = turn.nlu.language if self.match_language else None
        choice = self.select(ranked, turn.state.last_bot_reply(), language)
        turn.trace.record("chat_low_score", choice is None)
        if choice is None:
            return None
        return HandlerResult(choice, CHITCHAT)

    def gather(self, turn: Turn) -> list[Candidate]:
        """Every generator's candidates, de-duplicated by text; a failing generator is skipped."""
        seen: set[str] = set()
        gathered: list[Candidate] = []
        for generator in self.generators:
            try:
                with turn.trace.timed(f"generate.{generator.name}"):
                    proposed = generator.candidates(turn)
            except Exception as error:
                log.exception("generator %s failed", generator.name)
                turn.trace.record(f"generator_error.{generator.name}", f"{type(error).__name__}: {error}")
                continue
            for candidate in proposed:
                if candidate.text not in seen:
                    seen.add(candidate.text)
                    gathered.append(candidate)
        return gathered

    def select(self, ranked: Sequence[tuple[float, Candidate]], last_reply: str | None,
               language: str | None = None) -> str | None:  # fmt: skip
        """Sample among the best `sample_top` candidates above the threshold, weighted by score; with a
        `language`, among those that speak it when any does (a Chinese message is not answered in
        English because an English pair scored a little higher). Never one whose mood is the opposite
        of what the user's calls for (see `fits_the_mood`)."""
        eligible = [(s, c) for s, c in ranked if s >= self.threshold and c.text != last_reply]
        if self.match_emotion:
            eligible = [(s, c) for s, c in eligible if fits_the_mood(c)]
        if language is not None:
            eligible = [(s, c) for s, c in eligible if speaks(c.text, language)] or eligible
        eligible = eligible[: self.sample_top]
        if not eligible:
            return None
        top = eligible[0][0]
        weights = [math.exp((s - top) * 10) for s, _ in eligible]  # close scores: near-even odds
        return self._random.choices([c.text for _, c in eligible], weights=weights)[0]


def fits_the_mood(candidate: Candidate) -> bool:
    """False for a reply whose polarity is far from what the user's emotion calls for: sympathy for
    sadness to "我今天很开心" (its query "我今天很难过" is one word away), bitterness to a sad user. The
    ranker alone let such a near match win: the corpora hardly ever pair a message with a reply of
    the opposite mood, so it never learned what `emo_polarity_match` is worth there."""
    return candidate.features.get("emo_polarity_match", 1.0) >= MIN_POLARITY_MATCH


def _rounded(features: dict[str, float]) -> dict[str, float | None]:
    return {name: None if math.isnan(v) else round(v, 4) for name, v in features.items()}
