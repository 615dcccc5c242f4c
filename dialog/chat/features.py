"""Ranking features of core-chat candidates (docs/core-chat.md describes each family).

The same code featurises a live turn and the ranker's training groups, so both see one
distribution. Each feature is registered once, in `REGISTRY` (its name and how it is computed);
`FEATURES`, the names a trained ranker stores, follows from it. A feature that cannot be computed
(no index, a language the embedding model does not serve, no context yet) is NaN, which LightGBM
treats as missing; a name that is not registered is an error (`values`), never a missing value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dialog.chat.core import Candidate
from dialog.chat.embedding import Embedder
from dialog.chat.empathy import EmotionReader, desired_response, is_caring
from dialog.chat.index import Hit, RetrievalIndex
from dialog.chat.matcher import Matcher
from dialog.chat.persona import Persona
from dialog.understanding.basic import detect_language
from dialog_core.text import char_bigrams, jaccard, key, tokens
from dialog_core.turn import Emotion, Turn

NAN = float("nan")
RECENT_SEARCHES = 16
# Bumped when a feature keeps its name but changes its meaning: a ranker trained before is stale.
# 2: dense_ctx from the mean of the last exchange's utterance vectors (was: the joined text's).
# 3: dense features for Chinese too, from the glossed text's vectors.
# 4: vectors of the multilingual encoder (USE), match_qc from the matcher's projections.
FEATURES_VERSION = 4


@dataclass
class ChatContext:
    """What ranking needs to know about the turn."""

    query: str
    language: str
    emotion: Emotion
    context: tuple[str, ...] = ()  # recent utterances before the query, oldest first
    bot_said: tuple[str, ...] = ()  # the bot's replies this session
    exclude_query: str | None = None  # leave-one-out while building the ranker's groups
    hits: list[Hit] | None = field(default=None, repr=False)

    @classmethod
    def from_turn(cls, turn: Turn, reader: EmotionReader) -> ChatContext:
        history = turn.state.history
        context = (history[-1].user, history[-1].reply) if history else ()
        query = turn.nlu.rewritten or turn.nlu.normalized or turn.text
        emotion = turn.nlu.emotion
        if emotion.confidence <= 0:  # understanding left the placeholder: read the message ourselves
            emotion = reader.detect(query, turn.nlu.language)
        return cls(query, turn.nlu.language, emotion, context, tuple(t.reply for t in history))


# ---------------------------------------------------------------------- what the features read


@dataclass(slots=True)
class TurnFacts:
    """What the features of all candidates of a turn share, worked out once per turn. The vectors are
    None where the embedding model does not serve the language (`dense` is False)."""

    ctx: ChatContext
    dense: bool
    vecs: np.ndarray  # one row per candidate (zeros without `dense`)
    q_vec: np.ndarray | None
    ctx_vec: np.ndarray | None
    ctx_text: str  # the context's utterances, joined
    q_tokens: set[str]
    q_bigrams: set[str]
    ctx_tokens: set[str]
    said: list[set[str]]  # the character bigrams of each of the bot's replies
    said_keys: set[str]
    want_label: str
    want_polarity: float
    support: dict[str, tuple[float, float, float, float]]  # see FeatureExtractor._support
    hit_vecs: np.ndarray | None  # the hits' response vectors
    hit_qq: np.ndarray | None  # and their dense query-query similarities
    cross: list[float]
    match: np.ndarray | None
    topic_match: np.ndarray | None
    persona: Persona
    persona_vecs: np.ndarray
    fanout: Mapping[str, int] | None  # per response key, how many distinct queries it answers


@dataclass(slots=True)
class CandidateFacts:
    """What the features of one candidate read besides the turn's facts."""

    i: int  # its position among the turn's candidates
    candidate: Candidate
    text: str
    key: str
    vec: np.ndarray
    language: str
    dense: bool  # its vector is used: both the message's and its language are served
    emotion: Emotion
    caring: bool
    support: tuple[float, float, float, float] | None  # retrieval's scores for this very response
    tokens: set[str]
    bigrams: set[str]


# ---------------------------------------------------------------------- the features


@dataclass(frozen=True)
class Feature:
    name: str
    value: Callable[[TurnFacts, CandidateFacts], float]


class FeatureError(LookupError):
    """Computed and registered features differ (a misspelt or stale name): a bug, not a missing value."""


# The order is the trained ranker's column order: append new features, never reorder or rename
# (a ranker trained before would read the wrong columns; `LightGBMRanker.load` refuses it).
REGISTRY: tuple[Feature, ...] = (
    # local cohesion: the candidate against the user's message
    Feature("dense_qc", lambda t, c: float(t.q_vec @ c.vec) if t.q_vec is not None and c.dense else NAN),
    Feature("match_qc", lambda t, c: float(t.match[c.i]) if t.match is not None else NAN),
    Feature("cross_qc", lambda t, c: t.cross[c.i]),
    Feature("lang_match", lambda t, c: float(c.language == t.ctx.language)),
    # global coherence: the candidate against the recent conversation, and the topic
    Feature("dense_ctx", lambda t, c: float(t.ctx_vec @ c.vec) if t.ctx_vec is not None and c.dense else NAN),
    Feature("ctx_overlap", lambda t, c: jaccard(t.ctx_tokens, c.tokens) if t.ctx_text else NAN),
    Feature("topic_match", lambda t, c: float(t.topic_match[c.i]) if t.topic_match is not None else NAN),
    # empathy matching: emotion the user's state calls for, and persona
    Feature("emo_user_polarity", lambda t, c: t.ctx.emotion.polarity),
    Feature("emo_cand_polarity", lambda t, c: c.emotion.polarity),
    Feature("emo_polarity_match", lambda t, c: 1 - abs(c.emotion.polarity - t.want_polarity) / 2),
    Feature("emo_label_match",
            lambda t, c: float(c.emotion.label == t.want_label or (t.want_label == "caring" and c.caring))),
    Feature("emo_caring", lambda t, c: float(c.caring)),
    Feature("persona_sim", lambda t, c: float((t.persona_vecs @ c.vec).max()) if c.dense else NAN),
    Feature("persona_conflict", lambda t, c: float(t.persona.conflicts_with(c.text))),
    # retrieval matching
    Feature("bm25_qq", lambda t, c: c.support[0] if c.support else 0.0),
    Feature("bm25_qr", lambda t, c: c.support[1] if c.support else 0.0),
    Feature("dense_qq", lambda t, c: c.support[2] if c.support else (0.0 if t.dense else NAN)),
    Feature("fused", lambda t, c: c.support[3] if c.support else 0.0),
    Feature("support_soft", lambda t, c: float((t.hit_qq * (t.hit_vecs @ c.vec)).max())
            if t.hit_vecs is not None and t.hit_qq is not None and c.dense else NAN),
    Feature("token_overlap", lambda t, c: jaccard(t.q_tokens, c.tokens)),
    Feature("char_overlap", lambda t, c: jaccard(t.q_bigrams, c.bigrams)),
    # source
    Feature("src_retrieval", lambda t, c: float(c.candidate.source == "retrieval")),
    Feature("src_neural", lambda t, c: float(c.candidate.source == "neural")),
    Feature("src_kg", lambda t, c: float(c.candidate.source == "kg")),
    Feature("gen_score", lambda t, c: c.candidate.score),
    # length, repetition, genericness
    Feature("len_chars", lambda t, c: math.log1p(len(c.text))),
    Feature("len_ratio", lambda t, c: len(c.text) / max(1, len(t.ctx.query))),
    Feature("is_question", lambda t, c: float(c.text.rstrip().endswith(("?", "？", "吗", "呢")))),
    Feature("rep_max", lambda t, c: max((jaccard(c.bigrams, s) for s in t.said), default=0.0)),
    Feature("rep_exact", lambda t, c: float(c.key in t.said_keys)),
    Feature("generic_fanout",
            lambda t, c: math.log1p(t.fanout.get(c.key, 0)) if t.fanout is not None else NAN),
)  # fmt: skip
FEATURES: tuple[str, ...] = tuple(f.name for f in REGISTRY)
if len(set(FEATURES)) < len(FEATURES):
    twice = next(name for name in FEATURES if FEATURES.count(name) > 1)
    raise FeatureError(f"The feature {twice!r} is registered twice in REGISTRY.")


def values(features: Mapping[str, float]) -> list[float]:
    """A candidate's feature values in `FEATURES` order, for the ranker. NaN values pass (a feature
    undefined for the candidate); a registered feature that is absent, or a name that is not registered,
    raises FeatureError."""
    try:
        row = [features[name] for name in FEATURES]
    except KeyError as error:
        raise FeatureError(f"The feature {error.args[0]!r} is registered but was not computed.") from None
    if len(features) != len(FEATURES):
        unknown = next(name for name in features if name not in FEATURES)
        raise FeatureError(f"The feature {unknown!r} was computed but is not registered in REGISTRY.")
    return row


class FeatureExtractor:
    def __init__(self, embedder: Embedder, persona: Persona, reader: EmotionReader,
                 index: RetrievalIndex | None = None, dense_languages: Sequence[str] = ("en",),
                 cross_encoder: object | None = None, matcher: Matcher | None = None) -> None:  # fmt: skip
        self.embedder = embedder
        self.persona = persona
        self.reader = reader
        self.index = index
        self.dense_languages = set(dense_languages)
        self.cross_encoder = cross_encoder
        self.matcher = matcher
        self.persona_vecs = embedder.encode(persona.all_facts())
        self._recent: dict[tuple[str, tuple[str, ...], str | None, bool, int], list[Hit]] = {}

    # ------------------------------------------------------------------ turn entry point

    def annotate(self, turn: Turn, candidates: Sequence[Candidate]) -> None:
        context = ChatContext.from_turn(turn, self.reader)
        for candidate, features in zip(candidates, self.compute(context, candidates), strict=True):
            candidate.features = features

    # ------------------------------------------------------------------ features

    def search(self, ctx: ChatContext, k: int = 30) -> list[Hit]:
        """The index hits for the message in its context; the last few are kept, as the retrieval
        generator and the features ask for the same ones within a turn."""
        if ctx.hits is None:
            dense = self._dense(ctx.language)
            wanted = (ctx.query, ctx.context, ctx.exclude_query, dense, k)
            if wanted not in self._recent:
                vec = context_vec = None
                if dense:
                    vec = self.embedder.one(ctx.query)
                    context_vec = self._context_vector(ctx.context) if ctx.context else None
                self._recent[wanted] = (
                    self.index.search(ctx.query, vec, k, ctx.exclude_query, context_vec) if self.index else []
                )
                while len(self._recent) > RECENT_SEARCHES:
                    self._recent.pop(next(iter(self._recent)))
            ctx.hits = self._recent[wanted]
        return ctx.hits

    def compute(self, ctx: ChatContext, candidates: Sequence[Candidate]) -> list[dict[str, float]]:
        """Each candidate's features: every registered name, with its value (NaN where undefined)."""
        if not candidates:
            return []
        turn = self._turn_facts(ctx, candidates)
        rows = []
        for i, candidate in enumerate(candidates):
            one = self._candidate_facts(turn, i, candidate)
            rows.append({feature.name: feature.value(turn, one) for feature in REGISTRY})
        return rows

    def _turn_facts(self, ctx: ChatContext, candidates: Sequence[Candidate]) -> TurnFacts:
        dense = self._dense(ctx.language)
        hits = self.search(ctx)
        q_vec = ctx_vec = None
        c_vecs = np.zeros((len(candidates), self.embedder.dim), dtype=np.float32)
        if dense:  # else no vector is used: the embedding model does not serve the language
            c_vecs, q_vec, ctx_vec = self._vectors([c.text for c in candidates], ctx.query, ctx.context)
        want_label, want_polarity = desired_response(ctx.emotion)
        hit_vecs = (
            self.index.response_vectors([h.pair for h in hits]) if self.index and hits and dense else None
        )
        hit_qq = np.array([h.dense_qq for h in hits], dtype=np.float32) if hit_vecs is not None else None
        topics = self.index.topics if self.index else None
        topic_match = None
        if topics is not None:
            dists = topics.distributions([" ".join((*ctx.context, ctx.query)), *(c.text for c in candidates)])
            topic_match = dists[1:] @ dists[0]
        ctx_text = " ".join(ctx.context)
        return TurnFacts(
            ctx=ctx, dense=dense, vecs=c_vecs, q_vec=q_vec, ctx_vec=ctx_vec, ctx_text=ctx_text,
            q_tokens=set(tokens(ctx.query)), q_bigrams=char_bigrams(ctx.query),
            ctx_tokens=set(tokens(ctx_text)), said=[char_bigrams(text) for text in ctx.bot_said],
            said_keys={key(text) for text in ctx.bot_said},
            want_label=want_label, want_polarity=want_polarity, support=self._support(hits),
            hit_vecs=hit_vecs, hit_qq=hit_qq, cross=self._cross(ctx.query, candidates),
            match=self.matcher.scores(q_vec, c_vecs) if self.matcher and q_vec is not None else None,
            topic_match=topic_match, persona=self.persona, persona_vecs=self.persona_vecs,
            fanout=self.index.response_fanout if self.index else None,
        )  # fmt: skip

    def _candidate_facts(self, turn: TurnFacts, i: int, candidate: Candidate) -> CandidateFacts:
        text = candidate.text
        text_key = key(text)
        language = detect_language(text)
        return CandidateFacts(
            i=i, candidate=candidate, text=text, key=text_key, vec=turn.vecs[i], language=language,
            dense=turn.dense and language in self.dense_languages, emotion=self.reader.detect(text, language),
            caring=is_caring(text, language), support=turn.support.get(text_key), tokens=set(tokens(text)),
            bigrams=char_bigrams(text),
        )  # fmt: skip

    # ------------------------------------------------------------------ helpers

    def _dense(self, language: str) -> bool:
        return language in self.dense_languages

    def _vectors(
        self, texts: list[str], query: str, context: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Candidate, query and context vectors; indexed texts reuse their stored vectors, the rest is
        encoded in one batch (or comes from the embedder's cache: the last exchange was encoded on the
        previous turn, its user message as that turn's query, its reply as a candidate)."""
        vector = self._lookup([query, *context, *texts])
        return np.stack([vector(t) for t in texts]), vector(query), self._context_vector(context, vector)

    def _lookup(self, texts: Sequence[str]) -> Callable[[str], np.ndarray]:
        rows = self.index.text_row if self.index else {}
        new = [text for text in dict.fromkeys(texts) if text not in rows]
        fresh = dict(zip(new, self.embedder.cached(new), strict=True))

        def vector(text: str) -> np.ndarray:
            return np.asarray(self.index.vectors[rows[text]]) if text in rows else fresh[text]  # type: ignore[union-attr]

        return vector

    def _context_vector(
        self, context: Sequence[str], vector: Callable[[str], np.ndarray] | None = None
    ) -> np.ndarray | None:
        """The normalised mean of the context utterances' vectors."""
        if not context:
            return None
        vector = vector or self._lookup(context)
        mean = np.mean([vector(text) for text in context], axis=0)
        return mean / (np.linalg.norm(mean) or 1.0)

    def _support(self, hits: list[Hit]) -> dict[str, tuple[float, float, float, float]]:
        """Per response key: the best BM25 q-q, BM25 q-r, dense q-q and fused score of the hits giving it."""
        best: dict[str, tuple[float, float, float, float]] = {}
        for hit in hits:
            response = self.index.response_keys[hit.pair]  # type: ignore[union-attr]
            values = (hit.bm25_qq, hit.bm25_qr, hit.dense_qq, hit.fused)
            old = best.get(response)
            best[response] = values if old is None else tuple(map(_nanmax, old, values))  # type: ignore[assignment]
        return best

    def _cross(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        if self.cross_encoder is None:
            return [NAN] * len(candidates)
        scores = self.cross_encoder.predict([(query, c.text) for c in candidates])  # type: ignore[attr-defined]
        return [float(s) for s in scores]


def _nanmax(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)
