"""Core chat: gather candidates from generators, rank them, select one above a threshold.

Generators (retrieval, neural, knowledge graph) and the ranker plug in through the protocols
below. Selection samples among the best candidates above the threshold that are safe (no offensive
word, sexual content or personal data: dialog.safety), make no claim the persona forbids and speak
the user's language (a judge marks a reply in the other language as not sensible, so none is
served), never one of the opposite mood, and never repeats the bot's previous reply; with none good
enough the handler declines (trace `chat_low_score`), the editorial handler answers, and the topic
manager can take the signal.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, Field

from dialog.safety import unsafe
from dialog_core.errors import DialogError
from dialog_core.text import speaks
from dialog_core.turn import CHITCHAT, HandlerResult, Turn

log = logging.getLogger(__name__)
CHEERFUL = 0.75  # a candidate's polarity from which, without caring words, it celebrates
SORROWFUL = 0.5  # with caring words, a polarity of -0.5 or lower and the user addressed, it consoles
_ADDRESSES_THE_USER = re.compile(r"你|您|\byou\b|\byour\b", re.IGNORECASE)


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
        generated_threshold: float = 0.0,
        confident: float = 0.0,
    ) -> None:
        self.generators = list(generators)
        self.ranker = ranker
        self.threshold = threshold
        self.generated_threshold = generated_threshold  # for on-demand candidates (see `handle`)
        self.confident = confident  # with on-demand generators, what retrieved candidates need
        self.featurizer = featurizer
        self.sample_top = sample_top
        self.match_language = match_language
        self.match_emotion = match_emotion
        self._random = random.Random(seed)

    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        """Rank the candidates of the generators that always run; when none of them is good enough (with
        an on-demand generator: `confident`, else `threshold`), ask the on-demand ones (the neural
        generator: seconds, not milliseconds) and send the best of theirs that passes every check."""
        language = turn.nlu.language if self.match_language else None
        emotion = turn.nlu.emotion.label if self.match_emotion else None
        last_reply = turn.state.last_bot_reply()
        always = [g for g in self.generators if not getattr(g, "on_demand", False)]
        on_demand = [g for g in self.generators if getattr(g, "on_demand", False)]
        ranked = self._ranked(turn, self.gather(turn, always))
        # with a generator, a weak retrieved reply leaves the turn to it (measured: bench/results/generator-*)
        floor = max(self.threshold, self.confident) if on_demand else self.threshold
        choice = self.select(ranked, last_reply, language, emotion, floor)
        if choice is None and on_demand:  # nothing retrieved fits: a generated reply beats an editorial line
            seen = {c.text for _, c in ranked}
            more = self._ranked(turn, [c for c in self.gather(turn, on_demand) if c.text not in seen])
            choice = self.select(more, last_reply, language, emotion, self.generated_threshold)
            ranked = sorted([*ranked, *more], key=lambda pair: -pair[0])
        turn.trace.record(
            "candidates",
            [{**c.model_dump(mode="json"), "features": _rounded(c.features), "rank_score": round(s, 4)}
             for s, c in ranked],
        )  # fmt: skip
        turn.trace.record("chat_low_score", choice is None)
        if choice is None:
            return None
        return HandlerResult(choice, CHITCHAT)

    def _ranked(self, turn: Turn, candidates: list[Candidate]) -> list[tuple[float, Candidate]]:
        if candidates and self.featurizer is not None:
            with turn.trace.timed("chat.features"):
                self.featurizer.annotate(turn, candidates)
        with turn.trace.timed("chat.rank"):
            scores = self.ranker.score(turn, candidates) if candidates else []
        return sorted(zip(scores, candidates, strict=True), key=lambda pair: -pair[0])

    def gather(self, turn: Turn, generators: Sequence[CandidateGenerator] | None = None) -> list[Candidate]:
        """The candidates of `generators` (all by default), de-duplicated by text; a failing generator is
        skipped."""
        seen: set[str] = set()
        gathered: list[Candidate] = []
        for generator in self.generators if generators is None else generators:
            try:
                with turn.trace.timed(f"generate.{generator.name}"):
                    proposed = generator.candidates(turn)
            except Exception as error:
                if getattr(error, "quiet", False):  # down, and already said so
                    log.debug("generator %s skipped: %s", generator.name, error)
                elif isinstance(error, DialogError):  # a service that is down: one line, no traceback
                    log.warning("generator %s skipped: %s", generator.name, error)
                else:
                    log.exception("generator %s failed", generator.name)
                turn.trace.record(f"generator_error.{generator.name}", f"{type(error).__name__}: {error}")
                continue
            for candidate in proposed:
                if candidate.text not in seen:
                    seen.add(candidate.text)
                    gathered.append(candidate)
        return gathered

    def select(self, ranked: Sequence[tuple[float, Candidate]], last_reply: str | None,
               language: str | None = None, user_emotion: str | None = None,
               threshold: float | None = None) -> str | None:  # fmt: skip
        """Sample among the best `sample_top` candidates above the threshold, weighted by score; with a
        `language`, only among those that speak it (a Chinese message is never answered in English
        because an English pair scored higher: with none in Chinese, core chat declines). With the
        `user_emotion`, never one of the opposite mood (see `fits_the_mood`)."""
        floor = self.threshold if threshold is None else threshold
        eligible = [(s, c) for s, c in ranked if s >= floor and c.text != last_reply]
        # never a human life the persona forbids ("I'm Emily", "I've been to Australia"): ranked down
        # through `persona_conflict`, such a reply was still served whenever nothing else fit
        eligible = [(s, c) for s, c in eligible if not c.features.get("persona_conflict")]
        # the safety layer: no offensive word, sexual content or personal data, whatever the source
        eligible = [(s, c) for s, c in eligible if unsafe(c.text) is None]
        if user_emotion is not None:
            eligible = [(s, c) for s, c in eligible if fits_the_mood(c, user_emotion)]
        if language is not None:
            eligible = [(s, c) for s, c in eligible if speaks(c.text, language)]
        eligible = eligible[: self.sample_top]
        if not eligible:
            return None
        top = eligible[0][0]
        weights = [math.exp((s - top) * 10) for s, _ in eligible]  # close scores: near-even odds
        return self._random.choices([c.text for _, c in eligible], weights=weights)[0]


def fits_the_mood(candidate: Candidate, user_emotion: str) -> bool:
    """False for sympathy to a happy user ("我今天很开心" -> "听到你难过我也很心疼……": its indexed query
    "我今天很难过" is one word away) or to one who said nothing sad, and for celebration to a sad or
    anxious one ("太好了！"). The ranker alone let such near matches win: the corpora hardly ever pair
    a message with a reply of the opposite mood, so it never learned what the empathy features are
    worth there. Replies that merely disagree or talk about a feeling ("I don't like sports much",
    "悲伤不是我想体验的情感") are fine, so the rule looks at caring words and polarity, not at
    polarity alone."""
    caring = candidate.features.get("emo_caring", 0.0) == 1.0
    polarity = candidate.features.get("emo_cand_polarity", 0.0)
    if user_emotion == "happy":
        return not (caring and polarity < 0)
    if user_emotion in ("sad", "anxious"):
        return caring or polarity < CHEERFUL
    if user_emotion == "neutral" and candidate.features.get("emo_user_polarity", 0.0) >= 0:
        # "你今天过得怎么样" is no sad news to console; an apology ("很抱歉，我没有.") is fine
        return not (caring and polarity <= -SORROWFUL and _ADDRESSES_THE_USER.search(candidate.text))
    return True


def _rounded(features: dict[str, float]) -> dict[str, float | None]:
    return {name: None if math.isnan(v) else round(v, 4) for name, v in features.items()}
