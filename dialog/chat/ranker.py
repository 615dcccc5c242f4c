"""The LightGBM LambdaRank ranker: training groups from the corpora, training, evaluation, loading.

Groups come from the queries of the corpus' 'ranker' split (indexed; a query's own entries are masked
from retrieval while featurising it, as if it were new), two per query (see GroupBuilder).
Graded labels:
  2  a response the corpus gives to this very query (its true replies), or a generated reply equal to one;
  1  a retrieved response from the same corpus category (on topic, not the answer), or a generated
     reply the bot may send (dialog.chat.generated_replies: the default model's replies to these
     queries, written beforehand; those no chat partner would send are not there): the model wrote it
     for this message, so it is on topic, and it is not the answer the corpus gives;
  0  other retrieved responses, random responses, generated replies the persona or safety forbids.
So a close retrieved reply (2) beats a generated one (1), and a generated one scores like an on-topic
reply, above core chat's threshold, where editorial lines come in.
Evaluation uses the held-out split, which is neither indexed nor trained on.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dialog.chat import artifacts
from dialog.chat.core import Candidate
from dialog.chat.corpus import Pair
from dialog.chat.features import FEATURES, FEATURES_VERSION, ChatContext, FeatureExtractor, values
from dialog.chat.retrieval import RetrievalGenerator
from dialog.safety import unsafe
from dialog.understanding.basic import detect_language
from dialog_core.text import key
from dialog_core.turn import Turn

if TYPE_CHECKING:
    import lightgbm

log = logging.getLogger(__name__)
NEGATIVES = 5
TRUTHS = 2


@dataclass
class Group:
    context: ChatContext
    candidates: list[Candidate]
    labels: list[int]


class GroupBuilder:
    """Two groups per query, so that no shortcut separates injected true replies from retrieved ones:

    - a selection group: its true replies among random responses (content decides: local cohesion,
      coherence, empathy, language...);
    - a retrieval group: what retrieval (and, for some, the generator) proposes for a light rewording of it
      (see `reword`; its own entries are not masked there), graded 2/1/0.
    """

    def __init__(self, features: FeatureExtractor, truths: dict[str, set[str]], seed: int = 7,
                 generated: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> None:  # fmt: skip
        if features.index is None:
            raise artifacts.ArtifactError("Training the ranker needs the index; run `dialog index build`.")
        self.features = features
        self.index = features.index
        self.retrieval = RetrievalGenerator(features, k=10)
        self.truths = truths  # query key -> keys of its true responses
        self.generated = generated or {}  # query key -> the generator's (reply, score)s
        self.random = random.Random(seed)
        self.reword = True  # False for held-out queries: they are not indexed, nothing to reword

    def groups(self, pairs: Sequence[Pair], progress: Callable[[int], None] | None = None
               ) -> tuple[list[Group], list[Group]]:  # fmt: skip
        """(selection groups, retrieval groups); groups whose labels do not differ are left out."""
        by_query: dict[str, list[Pair]] = defaultdict(list)
        for pair in pairs:
            by_query[key(pair.query)].append(pair)
        selection, retrieval = [], []
        for query_key, group_pairs in by_query.items():
            first = group_pairs[0]
            language = detect_language(first.query)
            context = ChatContext(first.query, language, self.features.reader.detect(first.query, language),
                                  first.context, exclude_query=first.query)  # fmt: skip
            selection.append(self._selection(context, query_key, group_pairs))
            if self.reword:  # retrieval as for a user who words a known question a little differently
                reworded = reword(first.query, language, self.random)
                context = ChatContext(reworded, language, context.emotion, first.context)
            retrieval.append(self._retrieval(context, query_key, group_pairs))
            if progress:
                progress(1)
        keep = (
            [g for g in selection if len(set(g.labels)) > 1],
            [g for g in retrieval if len(set(g.labels)) > 1],
        )
        return keep

    def _selection(self, context: ChatContext, query_key: str, pairs: list[Pair]) -> Group:
        truths = self.truths[query_key]
        chosen = {p.response: 2 for p in pairs[:TRUTHS]}
        while len(chosen) < TRUTHS + NEGATIVES:
            other = self.index.pairs[self.random.randrange(len(self.index.pairs))].response
            if key(other) not in truths:
                chosen.setdefault(other, 0)
        return self._featurised(
            context, [(Candidate(text=t, source="retrieval"), lab) for t, lab in chosen.items()]
        )

    def _retrieval(self, context: ChatContext, query_key: str, pairs: list[Pair]) -> Group:
        truths = self.truths[query_key]
        items = []
        for candidate in self.retrieval.for_context(context):
            on_topic = self.index.pairs[self.index.response_row[candidate.text]].category == pairs[0].category
            items.append((candidate, 2 if key(candidate.text) in truths else int(on_topic)))
        for text, score in self.generated.get(query_key, ()):
            forbidden = self.features.persona.conflicts_with(text) or unsafe(text) is not None
            label = 2 if key(text) in truths else 0 if forbidden else 1
            items.append((Candidate(text=text, source="neural", score=score), label))
        return self._featurised(context, items)

    def _featurised(self, context: ChatContext, items: list[tuple[Candidate, int]]) -> Group:
        self.random.shuffle(items)  # no position to learn from
        group = Group(context, [c for c, _ in items], [label for _, label in items])
        for candidate, features in zip(group.candidates, self.features.compute(context, group.candidates),
                                       strict=True):  # fmt: skip
            candidate.features = features
        return group


EN_FILLERS = ("hey, ", "so ", "um, ", "tell me, ", "", "")
ZH_FILLERS = ("请问", "那", "嗯，", "", "")
ZH_ENDINGS = ("呢", "啊", "呀", "", "")


def reword(query: str, language: str, rng: random.Random) -> str:
    """A light rewording of a corpus question (a word or character dropped, a filler added, case and
    punctuation changed): retrieval groups then hold the question's own entries at paraphrase-like
    similarity, so the ranker learns how far to trust a close match."""
    if language == "zh":
        chars = [c for c in query if c not in "?？!！。.，, "]
        if len(chars) >= 4:
            del chars[rng.randrange(1, len(chars) - 1)]
        return rng.choice(ZH_FILLERS) + "".join(chars) + rng.choice(ZH_ENDINGS)
    words = [w.strip("?!.,").lower() for w in query.split()]
    words = [w for w in words if w]
    if len(words) >= 3:
        del words[rng.randrange(1, len(words))]
    return rng.choice(EN_FILLERS) + " ".join(words) + rng.choice(("?", "", ""))


def matrix(groups: Sequence[Group]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rows = [values(c.features) for g in groups for c in g.candidates]
    labels = [label for g in groups for label in g.labels]
    return np.array(rows, dtype=np.float64), np.array(labels), [len(g.candidates) for g in groups]


# ---------------------------------------------------------------------- training and evaluation


def train(
    fit: Sequence[Group], calibrate: Sequence[Group], seed: int = 7, weights: Sequence[float] | None = None
) -> tuple[lightgbm.Booster, tuple[float, float]]:
    """A LambdaRank model, and a logistic calibration of its raw score into P(true reply). `weights`:
    one per group of `fit` (LambdaRank scales each candidate's gradient by its weight)."""
    import lightgbm
    from sklearn.linear_model import LogisticRegression

    x, y, sizes = matrix(fit)
    rows = None if weights is None else np.repeat(np.asarray(weights, dtype=np.float64), sizes)
    model = lightgbm.LGBMRanker(
        objective="lambdarank", n_estimators=250, learning_rate=0.05, num_leaves=15, min_child_samples=20,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed, deterministic=True,
        force_row_wise=True, n_jobs=2, verbose=-1,
    )  # fmt: skip
    model.fit(x, y, group=sizes, sample_weight=rows, feature_name=list(FEATURES))
    xc, yc, _ = matrix(calibrate)
    raw = np.asarray(model.booster_.predict(xc)).reshape(-1, 1)
    logistic = LogisticRegression().fit(raw, (yc == 2).astype(int))
    return model.booster_, (float(logistic.coef_[0][0]), float(logistic.intercept_[0]))


def ndcg_at_1(scores: Sequence[float], labels: Sequence[int]) -> float:
    best = max(labels)
    return (2 ** labels[int(np.argmax(scores))] - 1) / (2**best - 1) if best > 0 else 0.0


def evaluate(score: Callable[[Group], Sequence[float]], groups: Sequence[Group]) -> dict[str, float]:
    """NDCG@1 and R@1 (the top candidate is a true reply) over the groups."""
    ndcg, hits = [], []
    for group in groups:
        scores = score(group)
        ndcg.append(ndcg_at_1(scores, group.labels))
        hits.append(float(group.labels[int(np.argmax(scores))] == 2))
    return {"ndcg@1": round(float(np.mean(ndcg)), 4), "r@1": round(float(np.mean(hits)), 4)}


def random_order(groups: Sequence[Group]) -> dict[str, float]:
    """The expected NDCG@1 and R@1 of a random ordering."""
    ndcg = [np.mean([(2**lab - 1) / (2 ** max(g.labels) - 1) for lab in g.labels]) for g in groups]
    hits = [np.mean([lab == 2 for lab in g.labels]) for g in groups]
    return {"ndcg@1": round(float(np.mean(ndcg)), 4), "r@1": round(float(np.mean(hits)), 4)}


class LightGBMRanker:
    def __init__(
        self, booster: lightgbm.Booster, calibration: tuple[float, float], meta: dict[str, Any]
    ) -> None:
        self.booster = booster
        self.calibration = calibration
        self.meta = meta
        held = meta.get("heldout", {}).get("ranker", {})
        self.name = (
            f"lightgbm lambdarank ({booster.num_trees()} trees; held-out NDCG@1 {held.get('ndcg@1', '?')}, "
            f"R@1 {held.get('r@1', '?')})"
        )

    @classmethod
    def load(cls, home: Path) -> LightGBMRanker:
        import lightgbm

        root = artifacts.ranker_dir(home)
        if not artifacts.exists(root):
            raise artifacts.ArtifactError(f"No trained ranker in {root}; run `dialog train ranker`.")
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        if list(meta["features"]) != list(FEATURES):
            raise artifacts.ArtifactError(
                "The trained ranker uses other features; run `dialog train ranker`."
            )
        booster = lightgbm.Booster(model_file=str(root / "model.txt"))
        a, b = meta["calibration"]
        return cls(booster, (a, b), meta)

    def raw(self, candidates: Sequence[Candidate]) -> np.ndarray:
        rows = [values(c.features) for c in candidates]
        return np.asarray(
            self.booster.predict(np.array(rows, dtype=np.float64), num_threads=1)
        )  # few rows: no pool

    def probability(self, candidates: Sequence[Candidate]) -> list[float]:
        a, b = self.calibration
        return [1 / (1 + math.exp(-(a * r + b))) for r in self.raw(candidates)]

    def score(self, turn: Turn, candidates: Sequence[Candidate]) -> list[float]:
        return self.probability(candidates) if candidates else []


def is_current(home: Path) -> bool:
    """A trained ranker exists, on today's features (names and meaning), on the index and matcher
    that are there now (or the matcher's absence)."""
    meta = artifacts.meta(artifacts.ranker_dir(home))
    return (
        meta is not None
        and list(meta.get("features", [])) == list(FEATURES)
        and meta.get("features_version", 1) == FEATURES_VERSION
        and all(meta.get(name) == value for name, value in trained_on(home).items())
    )


def trained_on(home: Path) -> dict[str, float | None]:
    """When the index and the matcher the ranker's features come from were made (None: not there)."""
    index, matcher = artifacts.meta(artifacts.index_dir(home)), artifacts.meta(artifacts.matcher_dir(home))
    return {
        "index_built_at": index.get("built_at") if index else None,
        "matcher_trained_at": matcher.get("trained_at") if matcher else None,
    }


def save(
    home: Path, booster: lightgbm.Booster, calibration: tuple[float, float], meta: dict[str, Any]
) -> None:
    with artifacts.publishing(artifacts.ranker_dir(home)) as out:
        booster.save_model(str(out / "model.txt"))
        meta = {
            **meta,
            **trained_on(home),
            "features": list(FEATURES),
            "features_version": FEATURES_VERSION,
            "calibration": list(calibration),
            "trained_at": time.time(),
        }
        (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def importances(booster: lightgbm.Booster) -> dict[str, float]:
    gains = booster.feature_importance("gain")
    total = float(gains.sum()) or 1.0
    ranked = sorted(zip(booster.feature_name(), gains, strict=True), key=lambda pair: -pair[1])
    return {name: round(float(gain) / total, 4) for name, gain in ranked}
