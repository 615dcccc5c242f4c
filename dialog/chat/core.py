"""Core chat: gather candidates from generators, rank them, select one above a threshold.

Generators (retrieval, neural, knowledge graph) and the ranker plug in through the protocols
below; with no candidate good enough the handler declines and the editorial handler answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from dialog.turn import CHITCHAT, HandlerResult, Turn


class Candidate(BaseModel):
    text: str
    source: str  # which generator proposed it
    score: float = 0.0  # the generator's own score
    features: dict[str, float] = Field(default_factory=dict)


class CandidateGenerator(Protocol):
    name: str

    def candidates(self, turn: Turn) -> list[Candidate]: ...


class Ranker(Protocol):
    def score(self, turn: Turn, candidates: Sequence[Candidate]) -> list[float]: ...


class GeneratorScoreRanker:
    """Until a trained ranker exists: trust each generator's own score."""

    def score(self, turn: Turn, candidates: Sequence[Candidate]) -> list[float]:
        return [candidate.score for candidate in candidates]


class CoreChat:
    def __init__(self, generators: Sequence[CandidateGenerator], ranker: Ranker, threshold: float) -> None:
        self.generators = list(generators)
        self.ranker = ranker
        self.threshold = threshold

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        candidates: list[Candidate] = []
        for generator in self.generators:
            with turn.trace.timed(f"generate.{generator.name}"):
                candidates.extend(generator.candidates(turn))
        scores = self.ranker.score(turn, candidates) if candidates else []
        ranked = sorted(zip(scores, candidates, strict=True), key=lambda pair: -pair[0])
        turn.trace.record("candidates", [{**c.model_dump(), "rank_score": round(s, 4)} for s, c in ranked])
        last = turn.state.last_bot_reply()
        for score, candidate in ranked:
            if score >= self.threshold and candidate.text != last:
                return HandlerResult(candidate.text, CHITCHAT)
        return None
