"""The retrieval generator: responses of the indexed pairs that best match the user's message."""

from __future__ import annotations

import math

from dialog.chat.core import Candidate
from dialog.chat.features import ChatContext, FeatureExtractor
from dialog_core.text import char_bigrams, jaccard
from dialog_core.turn import Turn


class RetrievalGenerator:
    """Top-k distinct responses by fused BM25 + dense score; `score` is the best hit's query similarity
    (dense cosine, or character-bigram overlap where the embedding model does not serve the language).

    It searches through the feature extractor, which ranks with the same hits.
    """

    name = "retrieval"

    def __init__(self, features: FeatureExtractor, k: int = 10) -> None:
        if features.index is None:
            raise ValueError("the retrieval generator needs an index")
        self.features = features
        self.index = features.index
        self.k = k

    def candidates(self, turn: Turn) -> list[Candidate]:
        context = ChatContext.from_turn(turn, self.features.reader)
        return self.for_context(context)

    def for_context(self, context: ChatContext) -> list[Candidate]:
        found: dict[str, Candidate] = {}
        for hit in self.features.search(context):
            response = self.index.pairs[hit.pair].response
            similarity = hit.dense_qq
            if math.isnan(similarity):  # a language the embedding model does not serve
                similarity = jaccard(
                    char_bigrams(context.query), char_bigrams(self.index.pairs[hit.pair].query)
                )
            if response not in found:
                found[response] = Candidate(
                    text=response, source=self.name, score=round(max(0.0, similarity), 4)
                )
            if len(found) == self.k:
                break
        return list(found.values())
