"""What `dialog index build`, `dialog train matcher` and `dialog train ranker` (and `dialog setup`)
run: each reads the data dir's artifacts, writes its own atomically and returns a report."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dialog.chat import artifacts
from dialog.chat.assembly import Parts
from dialog.chat.core import Candidate
from dialog.chat.corpus import Pair, Splitter
from dialog.chat.embedding import Embedder
from dialog.chat.features import FEATURES, ChatContext, FeatureError
from dialog.chat.matcher import source_of
from dialog_core.settings import Settings
from dialog_core.text import key

if TYPE_CHECKING:
    from dialog.chat.index import RetrievalIndex
    from dialog_core.services import Services
from dialog.understanding.basic import detect_language

CHITCHAT_SOURCE = "chitchat"
Progress = Callable[[str, int, int], None]  # (stage, advance, total)
DISTRACTORS = 9
BULK_THREADS = 2  # BLAS threads for encoding a corpus (per-turn encoding uses one)
MAX_TRAIN_QUERIES = 600  # train-split queries that also give ranker groups (featurising takes time)
# Per corpus source, at most this many queries of the ranker split give groups, and of the held-out
# split are evaluated: the chit-chat corpus's 15% would be 15,000 queries, an hour of featurising.
MAX_QUERIES_PER_SOURCE = 600


def build_index(
    settings: Settings,
    corpus_files: Sequence[Path],
    include_default: bool = True,
    progress: Progress | None = None,
    splitter: Splitter | None = None,
    services: Services | None = None,
) -> dict:
    """With `services`, the vectors also go to the shared Redis vector set (settings permitting)."""
    from dialog.chat.corpus import load_corpora
    from dialog.chat.index import RetrievalIndex

    load_corpora(corpus_files)  # a malformed file fails here, before the slow model load
    parts = Parts(settings, services=services)
    return RetrievalIndex.build(
        settings.home,
        corpus_files,
        Embedder(settings.chat_embedding_model, settings.chat_gloss_chinese, threads=BULK_THREADS),
        splitter or Splitter(),
        include_default=include_default,
        progress=progress,
        shared=parts.shared_vectors,
    )


def train_matcher(settings: Settings, progress: Progress | None = None) -> dict:
    from dialog.chat.matcher import train_matcher as train
    from dialog.chat.matcher import training_rows

    index = Parts(settings).index
    if index is None:
        raise artifacts.ArtifactError("Training the matcher needs the index; run `dialog index build` first.")
    rows = training_rows(index.pairs, index.splitter())
    report = progress or (lambda stage, advance, total: None)
    return train(settings.home, [index.pairs[r] for r in rows], index.query_vectors(rows),
                 index.response_vectors(rows), index.meta["build_id"],
                 progress=lambda step, total: report("training", 1, total))  # fmt: skip


def train_ranker(
    settings: Settings,
    progress: Progress | None = None,
    seed: int = 7,
    max_train_queries: int = MAX_TRAIN_QUERIES,
) -> dict:
    """Groups from the indexed queries (each masked from its own search): train on 80%, calibrate the
    score on 20%, evaluate on the held-out split."""
    from dialog.chat import generated_replies, ranker
    from dialog.chat.ranker import GroupBuilder

    parts = Parts(settings)
    index = parts.index
    if index is None:
        raise artifacts.ArtifactError("Training the ranker needs the index; run `dialog index build` first.")
    splitter = index.splitter()
    heldout = capped(index.heldout(), MAX_QUERIES_PER_SOURCE, seed)
    truths = truth_table([*index.pairs, *heldout])
    builder = GroupBuilder(parts.features, truths, seed, generated_replies.load())
    # Every indexed query gives groups (its own entries masked); some of the ranker split's also get
    # the generator's replies, written beforehand.
    ranker_pairs = ranker_split(index, seed)
    train_keys = sorted({key(p.query) for p in index.pairs if splitter(p.query) == "train"})
    sampled = set(random.Random(seed).sample(train_keys, min(len(train_keys), max_train_queries)))
    train_pairs = [p for p in index.pairs if key(p.query) in sampled]
    report = progress or (lambda stage, advance, total: None)
    total = len({key(p.query) for p in [*ranker_pairs, *train_pairs, *heldout]})
    step = lambda n: report("featurising", n, total)  # noqa: E731
    selection, retrieval = builder.groups(ranker_pairs, step)
    more_selection, more_retrieval = builder.groups(train_pairs, step)
    selection, retrieval = selection + more_selection, retrieval + more_retrieval
    builder.reword = False
    test_selection, test_retrieval = builder.groups(heldout, step)
    groups = selection + retrieval
    if len(groups) < 10 or not test_selection:
        raise artifacts.ArtifactError("Too few queries to train and evaluate a ranker; add corpus pairs.")
    random.Random(seed).shuffle(groups)
    cut = max(1, len(groups) // 5)
    booster, calibration = ranker.train(groups[cut:], groups[:cut], seed)
    trained = ranker.LightGBMRanker(booster, calibration, {})
    scorers: dict[str, Callable[[ranker.Group], Sequence[float]]] = {
        "ranker": lambda g: list(trained.raw(g.candidates)),
        "dense_qc only": lambda g: _feature(g.candidates, "dense_qc"),
        "token_overlap only": lambda g: _feature(g.candidates, "token_overlap"),
    }
    test = test_selection + test_retrieval
    heldout_metrics = {
        **{name: ranker.evaluate(scorer, test) for name, scorer in scorers.items()},
        "random order": ranker.random_order(test),
        "ranker, selection groups": ranker.evaluate(scorers["ranker"], test_selection),
        "ranker, retrieval groups": ranker.evaluate(scorers["ranker"], test_retrieval),
        "random order, retrieval groups": ranker.random_order(test_retrieval),
    }
    hits = one_in_ten_hits(lambda ctx, cands: list(trained.raw(cands)), parts, heldout, seed)
    one_of_ten = round(float(np.mean(list(hits.values()))), 4)
    per_source = {
        source: round(float(np.mean([hits[k] for k in {key(p.query) for p in queries}])), 4)
        for source, queries in by_source(heldout).items()
    }
    meta = {
        "groups": {"train": len(groups) - cut, "calibration": cut, "heldout": len(test)},
        "heldout": heldout_metrics,
        "one_in_ten_r@1": one_of_ten,
        "one_in_ten_r@1_by_source": per_source,
        "generator_candidates": sum(c.source == "neural" for g in groups for c in g.candidates),
        "matcher": parts.matcher is not None,
        "importances": ranker.importances(booster),
    }
    ranker.save(settings.home, booster, calibration, meta)
    return meta


def ranker_split(index: RetrievalIndex, seed: int = 7) -> list[Pair]:
    """The pairs of the ranker split's queries that give training groups."""
    splitter = index.splitter()
    return capped([p for p in index.pairs if splitter(p.query) == "ranker"], MAX_QUERIES_PER_SOURCE, seed)


def by_source(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    """The pairs per corpus: the human chit-chat corpus, and the others by language."""
    found: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        name = CHITCHAT_SOURCE if source_of(pair) == CHITCHAT_SOURCE else detect_language(pair.query)
        found[name].append(pair)
    return dict(found)


def capped(pairs: Sequence[Pair], limit: int, seed: int) -> list[Pair]:
    """The pairs of at most `limit` queries per corpus source (all pairs of a kept query), sampled."""
    keys: dict[str, dict[str, None]] = defaultdict(dict)
    for pair in pairs:
        keys[source_of(pair)][key(pair.query)] = None
    rng = random.Random(seed)
    kept = {
        k
        for found in map(list, keys.values())
        for k in (found if len(found) <= limit else rng.sample(found, limit))
    }
    return [p for p in pairs if key(p.query) in kept]


def truth_table(pairs: Sequence[Pair]) -> dict[str, set[str]]:
    truths: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        truths[key(pair.query)].add(key(pair.response))
    return truths


def one_in_ten(score: Callable[[ChatContext, list[Candidate]], list[float]], parts: Parts,
               queries: Sequence[Pair], seed: int = 7) -> float:  # fmt: skip
    """R@1 of picking the true reply among it and 9 others, over the held-out queries of `queries`."""
    return round(float(np.mean(list(one_in_ten_hits(score, parts, queries, seed).values()))), 4)


def one_in_ten_hits(score: Callable[[ChatContext, list[Candidate]], list[float]], parts: Parts,
                    queries: Sequence[Pair], seed: int = 7) -> dict[str, float]:  # fmt: skip
    """Per query key of `queries`: 1.0 when the true reply scores above 9 others, else 0.0.

    The 9 are drawn at random from the held-out split's replies, like the truth: drawn from the
    index, they would differ from it in being indexed (reply fan-out, retrieval support), and the
    figure would measure that instead of how well a reply fits the message. A corpus too small for
    that draws from all its replies.
    """
    index = parts.index
    if index is None:
        raise artifacts.ArtifactError("No retrieval index; run `dialog index build`.")
    rng = random.Random(seed)
    heldout = index.heldout()
    truths = truth_table([*index.pairs, *heldout])
    pool = sorted({p.response for p in heldout})
    if len(pool) <= 2 * DISTRACTORS:
        pool = sorted({p.response for p in [*index.pairs, *heldout]})
    hits: dict[str, float] = {}
    for pair in queries:
        if key(pair.query) in hits:
            continue
        distractors: list[str] = []
        while len(distractors) < DISTRACTORS:
            other = rng.choice(pool)
            if key(other) not in truths[key(pair.query)] and other not in distractors:
                distractors.append(other)
        language = detect_language(pair.query)
        ctx = ChatContext(pair.query, language, parts.reader.detect(pair.query, language), pair.context)
        candidates = [Candidate(text=t, source="retrieval") for t in [pair.response, *distractors]]
        for candidate, features in zip(candidates, parts.features.compute(ctx, candidates), strict=True):
            candidate.features = features
        scores = score(ctx, candidates)
        hits[key(pair.query)] = float(int(np.argmax(scores)) == 0 and scores[0] > max(scores[1:]))
    return hits


def _feature(candidates: Sequence[Candidate], name: str) -> list[float]:
    """One feature as a score (an undefined, NaN value scores -1); an unregistered name is an error."""
    if name not in FEATURES:
        raise FeatureError(f"The feature {name!r} is not registered in REGISTRY.")
    return [-1.0 if math.isnan(value := c.features[name]) else value for c in candidates]
