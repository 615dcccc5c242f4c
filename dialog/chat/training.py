"""What `dialog index build`, `dialog train matcher` and `dialog train ranker` (and `dialog setup`)
run: each reads the data dir's artifacts, writes its own atomically and returns a report."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from dialog.chat.ranker import Group, LightGBMRanker
    from dialog.feedback.training import FeedbackGroups
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
    """With `services`, the vectors also go to the shared Redis vector set (settings permitting). The
    data dir's approved replies (`<home>/corpora/approved.jsonl`) are indexed too when they exist."""
    from dialog.chat.corpus import home_corpus_files, load_corpora
    from dialog.chat.index import RetrievalIndex

    corpus_files = [*corpus_files, *(p for p in home_corpus_files(settings.home) if p not in corpus_files)]
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
    feedback: FeedbackGroups | None = None,
) -> dict:
    """Groups from the indexed queries (each masked from its own search): train on 80%, calibrate the
    score on 20%, evaluate on the held-out split; publish. With `feedback` (dialog.feedback.training),
    its groups train too (weighed by `feedback_weight`), the current ranker and the new one are
    evaluated on both held-out sets, and a new ranker worse on the held-out split is not published
    (the meta's "refused" says so in one sentence)."""
    if feedback is not None and not feedback.train:
        from dialog.feedback.training import described

        raise artifacts.ArtifactError(
            f"No logged turn makes a training group yet ({described(feedback.counts)}); "
            "train without --with-feedback."
        )
    corpus = corpus_groups(settings, progress, seed, max_train_queries)
    return fit_ranker(settings, corpus, feedback, seed)


@dataclass
class CorpusGroups:
    """The featurised groups of the corpora, made once for every ranker fitted on them."""

    parts: Parts
    fit: list[Group]
    calibration: list[Group]
    test_selection: list[Group]
    test_retrieval: list[Group]
    heldout: list[Pair]  # the held-out pairs evaluated (1 in 10)

    @property
    def test(self) -> list[Group]:
        return self.test_selection + self.test_retrieval


def corpus_groups(
    settings: Settings,
    progress: Progress | None = None,
    seed: int = 7,
    max_train_queries: int = MAX_TRAIN_QUERIES,
) -> CorpusGroups:
    from dialog.chat import generated_replies
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
    return CorpusGroups(parts, groups[cut:], groups[:cut], test_selection, test_retrieval, heldout)


def fit_ranker(
    settings: Settings,
    corpus: CorpusGroups,
    feedback: FeedbackGroups | None = None,
    seed: int = 7,
    publish: bool = True,
) -> dict:
    """Train on the corpus groups (and the feedback's, weighed), evaluate, and publish unless refused
    (see `train_ranker`) or `publish` is False."""
    from dialog.chat import ranker

    current = current_ranker(settings.home) if feedback is not None else None
    fit, weights = list(corpus.fit), None
    if feedback is not None:
        fit += feedback.train
        weights = [1.0] * len(corpus.fit) + [settings.feedback_weight] * len(feedback.train)
    booster, calibration = ranker.train(fit, corpus.calibration, seed, weights)
    trained = ranker.LightGBMRanker(booster, calibration, {})
    scorers: dict[str, Callable[[ranker.Group], Sequence[float]]] = {
        "ranker": lambda g: list(trained.raw(g.candidates)),
        "dense_qc only": lambda g: _feature(g.candidates, "dense_qc"),
        "token_overlap only": lambda g: _feature(g.candidates, "token_overlap"),
    }
    test, test_retrieval = corpus.test, corpus.test_retrieval
    heldout_metrics = {
        **{name: ranker.evaluate(scorer, test) for name, scorer in scorers.items()},
        "random order": ranker.random_order(test),
        "ranker, selection groups": ranker.evaluate(scorers["ranker"], corpus.test_selection),
        "ranker, retrieval groups": ranker.evaluate(scorers["ranker"], test_retrieval),
        "random order, retrieval groups": ranker.random_order(test_retrieval),
    }
    meta: dict[str, Any] = {
        "groups": {"train": len(corpus.fit), "calibration": len(corpus.calibration), "heldout": len(test)},
        "heldout": heldout_metrics,
        "generator_candidates": sum(
            c.source == "neural" for g in [*corpus.fit, *corpus.calibration] for c in g.candidates
        ),
        "matcher": corpus.parts.matcher is not None,
        "importances": ranker.importances(booster),
    }
    if feedback is not None:
        meta["feedback"] = compared(settings, corpus, feedback, current, trained)
        meta["refused"] = refusal(meta["feedback"])
        if meta["refused"]:
            return meta
    hits = one_in_ten_hits(lambda ctx, cands: list(trained.raw(cands)), corpus.parts, corpus.heldout, seed)
    meta["one_in_ten_r@1"] = round(float(np.mean(list(hits.values()))), 4)
    meta["one_in_ten_r@1_by_source"] = {
        source: round(float(np.mean([hits[k] for k in {key(p.query) for p in queries}])), 4)
        for source, queries in by_source(corpus.heldout).items()
    }
    if publish:
        ranker.save(settings.home, booster, calibration, meta)
    return meta


def current_ranker(home: Path) -> LightGBMRanker | None:
    """The published ranker, if there is one on today's features."""
    from dialog.chat.ranker import LightGBMRanker

    try:
        return LightGBMRanker.load(home)
    except artifacts.ArtifactError:
        return None


def compared(settings: Settings, corpus: CorpusGroups, feedback: FeedbackGroups,
             current: LightGBMRanker | None, trained: LightGBMRanker) -> dict[str, Any]:  # fmt: skip
    """The feedback used, and the current and the new ranker on the held-out split and on the
    held-out slice of the logs."""
    from dialog.chat import ranker

    def metrics(model: LightGBMRanker) -> dict[str, dict[str, float] | None]:
        score = lambda g: list(model.raw(g.candidates))  # noqa: E731
        log = ranker.evaluate(score, feedback.heldout) if feedback.heldout else None
        return {"heldout split": ranker.evaluate(score, corpus.test), "heldout log slice": log}

    return {
        "weight": settings.feedback_weight,
        "turns": dict(feedback.counts),
        "groups": {"train": len(feedback.train), "heldout": len(feedback.heldout)},
        "current": metrics(current) if current is not None else None,
        "new": metrics(trained),
    }


def refusal(comparison: dict[str, Any]) -> str | None:
    """One sentence when the new ranker is worse than the current one on the held-out split: a lower
    R@1, or the same R@1 and a lower NDCG@1."""
    if comparison["current"] is None:
        return None
    new, now = comparison["new"]["heldout split"], comparison["current"]["heldout split"]
    if (new["r@1"], new["ndcg@1"]) >= (now["r@1"], now["ndcg@1"]):
        return None
    if new["r@1"] < now["r@1"]:
        figures = f"R@1 {new['r@1']:.4f} < {now['r@1']:.4f}"
    else:
        figures = f"R@1 {new['r@1']:.4f} as before, NDCG@1 {new['ndcg@1']:.4f} < {now['ndcg@1']:.4f}"
    return (
        f"The ranker trained with feedback is worse on the held-out split ({figures}); "
        "the current ranker stays."
    )


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
