"""Ranking features are registered once (dialog/chat/features.py): the names a trained ranker stores
follow from the registrations, and a name that is missing or not registered is an error, never a NaN.
Against the real chat home of tests/conftest.py (its index, and the ranker trained on it)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dialog.chat.assembly import Parts
from dialog.chat.core import Candidate
from dialog.chat.features import FEATURES, FEATURES_VERSION, ChatContext, FeatureError, values
from dialog.chat.ranker import Group, LightGBMRanker, matrix
from dialog.chat.retrieval import RetrievalGenerator
from dialog_core.turn import Emotion

pytestmark = pytest.mark.timeout(900)  # the chat home trains a ranker

# What rankers trained on FEATURES_VERSION 4 store: a renamed or reordered feature makes them read the
# wrong columns, so a change here goes with a new FEATURES_VERSION.
VERSION_4 = (
    "dense_qc", "match_qc", "cross_qc", "lang_match",
    "dense_ctx", "ctx_overlap", "topic_match",
    "emo_user_polarity", "emo_cand_polarity", "emo_polarity_match", "emo_label_match", "emo_caring",
    "persona_sim", "persona_conflict",
    "bm25_qq", "bm25_qr", "dense_qq", "fused", "support_soft", "token_overlap", "char_overlap",
    "src_retrieval", "src_neural", "src_kg", "gen_score",
    "len_chars", "len_ratio", "is_question", "rep_max", "rep_exact", "generic_fanout",
)  # fmt: skip


def featurised(parts: Parts, ctx: ChatContext, candidates: list[Candidate]) -> list[Candidate]:
    for candidate, features in zip(candidates, parts.features.compute(ctx, candidates), strict=True):
        candidate.features = features
    return candidates


def some_candidates(parts: Parts, ctx: ChatContext) -> list[Candidate]:
    """What retrieval proposes, and a generated and a knowledge-graph reply."""
    proposed = RetrievalGenerator(parts.features, k=10).for_context(ctx)
    generated = Candidate(text="I love a good film on a rainy day.", source="neural", score=0.6)
    known = Candidate(text="北京是中国的首都。", source="kg", score=1.0)
    return featurised(parts, ctx, [*proposed, generated, known])


def test_the_registered_names_are_those_the_trained_ranker_stores(chat_home: Path) -> None:
    assert FEATURES_VERSION == 4 and FEATURES == VERSION_4
    ranker = LightGBMRanker.load(chat_home)
    assert ranker.meta["features"] == list(FEATURES) and ranker.meta["features_version"] == FEATURES_VERSION
    assert ranker.booster.feature_name() == list(FEATURES)  # the model's own columns


@pytest.mark.parametrize(
    ("query", "language", "context"),
    [
        ("What is your favourite movie?", "en", ()),
        ("Do you play chess?", "en", ("Hello", "Hi, how are you?")),
        ("你喜欢看电影吗？", "zh", ()),
    ],
)
def test_compute_gives_exactly_the_registered_features(
    parts: Parts,
    query: str,
    language: str,
    context: tuple[str, ...],
) -> None:
    ctx = ChatContext(query, language, Emotion(), context, bot_said=("Hello there!",))
    candidates = some_candidates(parts, ctx)
    assert len(candidates) > 2
    for candidate in candidates:
        assert tuple(candidate.features) == FEATURES
        assert values(candidate.features) == [candidate.features[name] for name in FEATURES]
    # NaN stays a value: without context, a candidate's overlap with it is undefined
    overlaps = [c.features["ctx_overlap"] for c in candidates]
    assert all(math.isnan(v) for v in overlaps) if not context else not any(math.isnan(v) for v in overlaps)


def test_a_misspelt_or_missing_feature_name_raises_naming_it(parts: Parts) -> None:
    [candidate] = featurised(
        parts, ChatContext("Hello", "en", Emotion()), [Candidate(text="Hi!", source="kg")]
    )
    misspelt = {
        ("dense_qx" if name == "dense_qc" else name): value for name, value in candidate.features.items()
    }
    with pytest.raises(FeatureError, match="'dense_qc' is registered but was not computed"):
        values(misspelt)
    with pytest.raises(FeatureError, match="'dense_qx' was computed but is not registered"):
        values({**candidate.features, "dense_qx": 0.5})


def test_the_ranker_refuses_a_candidate_missing_a_feature_rather_than_score_it_as_nan(
    parts: Parts,
    chat_home: Path,
) -> None:
    ranker = LightGBMRanker.load(chat_home)
    ctx = ChatContext("What is your favourite colour?", "en", Emotion())
    texts = ["Blue, like a clear summer sky.", "Mushrooms and olives."]
    candidates = featurised(parts, ctx, [Candidate(text=text, source="retrieval") for text in texts])
    candidates[1].features["bm25_qq"] = math.nan  # a NaN value is a feature undefined for it: scored
    scores = ranker.probability(candidates)
    assert all(0 < s < 1 for s in scores)

    del candidates[1].features["bm25_qq"]
    with pytest.raises(FeatureError, match="'bm25_qq' is registered but was not computed"):
        ranker.probability(candidates)
    with pytest.raises(FeatureError, match="'bm25_qq'"):  # nor is one trained on
        matrix([Group(ctx, candidates, [2, 0])])
