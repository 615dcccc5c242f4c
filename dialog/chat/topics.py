"""A topic model for the topic-coherence features: P(corpus category | text) from a character
n-gram TF-IDF logistic regression (works alike for Chinese and English), trained at index build on
the queries and responses of the 'train' split only, so the ranker's and the held-out queries'
replies stay unseen."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np

from dialog.chat.corpus import Pair

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FILE = "topics.joblib"
MIN_PER_TOPIC = 5
# A category of the human chit-chat corpus holds 100k pairs of every subject: sampled down to this, so
# that it is one topic among the others, not the answer to every text.
MAX_PER_TOPIC = 1000


class TopicModel:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    @classmethod
    def train(cls, pairs: Sequence[Pair], seed: int = 0) -> TopicModel | None:
        """None when the corpora have fewer than two categories worth learning."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        by_topic: dict[str, list[Pair]] = {}
        for pair in pairs:
            by_topic.setdefault(pair.category, []).append(pair)
        rng = random.Random(seed)
        pairs = [p for found in by_topic.values() for p in rng.sample(found, min(len(found), MAX_PER_TOPIC))]
        texts = [t for p in pairs for t in (p.query, p.response)]
        labels = [p.category for p in pairs for _ in (0, 1)]
        counts = Counter(labels)
        keep = [i for i, label in enumerate(labels) if counts[label] >= MIN_PER_TOPIC]
        if len({labels[i] for i in keep}) < 2:
            return None
        pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
            LogisticRegression(C=5.0, max_iter=500, random_state=seed),
        )
        pipeline.fit([texts[i] for i in keep], [labels[i] for i in keep])
        return cls(pipeline)

    def save(self, directory: Path) -> None:
        joblib.dump(self.pipeline, directory / FILE)

    @classmethod
    def load(cls, directory: Path) -> TopicModel | None:
        path = directory / FILE
        return cls(joblib.load(path)) if path.is_file() else None

    def distributions(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict_proba(list(texts))
