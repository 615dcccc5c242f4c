"""Ranking features of core-chat candidates (docs/core-chat.md describes each family).

The same code featurises a live turn and the ranker's training groups, so both see one
distribution. A feature that cannot be computed (no index, a language the embedding model does
not serve, no context yet) is NaN, which LightGBM treats as missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
SOURCES = ("retrieval", "neural", "kg")
# Bumped when a feature keeps its name but changes its meaning: a ranker trained before is stale.
# 2: dense_ctx from the mean of the last exchange's utterance vectors (was: the joined text's).
# 3: dense features for Chinese too, from the glossed text's vectors.
# 4: vectors of the multilingual encoder (USE), match_qc from the matcher's projections.
FEATURES_VERSION = 4
FEATURES: tuple[str, ...] = (
    # local cohesion: the candidate against the user's message
    "dense_qc", "match_qc", "cross_qc", "lang_match",
    # global coherence: the candidate against the recent conversation, and the topic
    "dense_ctx", "ctx_overlap", "topic_match",
    # empathy matching: emotion the user's state calls for, and persona
    "emo_user_polarity", "emo_cand_polarity", "emo_polarity_match", "emo_label_match", "emo_caring",
    "persona_sim", "persona_conflict",
    # retrieval matching
    "bm25_qq", "bm25_qr", "dense_qq", "fused", "support_soft", "token_overlap", "char_overlap",
    # source
    "src_retrieval", "src_neural", "src_kg", "gen_score",
    # length, repetition, genericness
    "len_chars", "len_ratio", "is_question", "rep_max", "rep_exact", "generic_fanout",
)  # fmt: skip


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
        self._recent: dict[tuple[str, str | None, bool, int], list[Hit]] = {}

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
        if not candidates:
            return []
        dense = self._dense(ctx.language)
        hits = self.search(ctx)
        ctx_text = " ".join(ctx.context)
        q_vec = ctx_vec = None
        c_vecs = np.zeros((len(candidates), self.embedder.dim), dtype=np.float32)
        if dense:  # else no vector is used: the embedding model does not serve the language
            c_vecs, q_vec, ctx_vec = self._vectors([c.text for c in candidates], ctx.query, ctx.context)
        q_tokens, q_bigrams = set(tokens(ctx.query)), char_bigrams(ctx.query)
        ctx_tokens = set(tokens(ctx_text))
        said = [char_bigrams(text) for text in ctx.bot_said]
        said_keys = {key(text) for text in ctx.bot_said}
        want_label, want_polarity = desired_response(ctx.emotion)
        support = self._support(hits)
        hit_vecs = (
            self.index.response_vectors([h.pair for h in hits]) if self.index and hits and dense else None
        )
        hit_qq = np.array([h.dense_qq for h in hits], dtype=np.float32) if hit_vecs is not None else None
        cross = self._cross(ctx.query, candidates)
        match = self.matcher.scores(q_vec, c_vecs) if self.matcher and q_vec is not None else None
        topics = self.index.topics if self.index else None
        if topics is not None:
            dists = topics.distributions([" ".join((*ctx.context, ctx.query)), *(c.text for c in candidates)])
            topic_match = dists[1:] @ dists[0]

        rows = []
        for i, candidate in enumerate(candidates):
            text, c_vec = candidate.text, c_vecs[i]
            language = detect_language(text)
            c_dense = dense and language in self.dense_languages
            emotion = self.reader.detect(text, language)
            exact = support.get(key(text))
            bigrams = char_bigrams(text)
            row = {
                "dense_qc": float(q_vec @ c_vec) if q_vec is not None and c_dense else NAN,
                "match_qc": float(match[i]) if match is not None else NAN,
                "cross_qc": cross[i],
                "lang_match": float(language == ctx.language),
                "dense_ctx": float(ctx_vec @ c_vec) if ctx_vec is not None and c_dense else NAN,
                "ctx_overlap": jaccard(ctx_tokens, set(tokens(text))) if ctx_text else NAN,
                "topic_match": float(topic_match[i]) if topics is not None else NAN,
                "emo_user_polarity": ctx.emotion.polarity,
                "emo_cand_polarity": emotion.polarity,
                "emo_polarity_match": 1 - abs(emotion.polarity - want_polarity) / 2,
                "emo_label_match": float(
                    emotion.label == want_label or (want_label == "caring" and is_caring(text, language))
                ),
                "emo_caring": float(is_caring(text, language)),
                "persona_sim": float((self.persona_vecs @ c_vec).max()) if c_dense else NAN,
                "persona_conflict": float(self.persona.conflicts_with(text)),
                "bm25_qq": exact[0] if exact else 0.0,
                "bm25_qr": exact[1] if exact else 0.0,
                "dense_qq": exact[2] if exact else (0.0 if dense else NAN),
                "fused": exact[3] if exact else 0.0,
                "support_soft": float((hit_qq * (hit_vecs @ c_vec)).max())
                if hit_vecs is not None and c_dense
                else NAN,
                "token_overlap": jaccard(q_tokens, set(tokens(text))),
                "char_overlap": jaccard(q_bigrams, bigrams),
                **{f"src_{name}": float(candidate.source == name) for name in SOURCES},
                "gen_score": candidate.score,
                "len_chars": math.log1p(len(text)),
                "len_ratio": len(text) / max(1, len(ctx.query)),
                "is_question": float(text.rstrip().endswith(("?", "？", "吗", "呢"))),
                "rep_max": max((jaccard(bigrams, s) for s in said), default=0.0),
                "rep_exact": float(key(text) in said_keys),
                "generic_fanout": math.log1p(self.index.response_fanout.get(key(text), 0))
                if self.index
                else NAN,
            }
            rows.append(row)
        return rows

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
