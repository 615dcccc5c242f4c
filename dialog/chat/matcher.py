"""`dialog train matcher`: a response-selection bi-encoder, fine-tuned from the embedding model on the
indexed pairs (the 'train' split only, like the generator; never the ranker's or the held-out queries).

The base embedding model measures whether two texts *mean* the same; a reply rarely means what its
question means. Fine-tuning with in-batch negatives (each query against every other reply of its
batch, and each reply against every query) teaches the model which replies *answer* a message, in
both corpus languages: Chinese reaches it glossed into English (gloss.py), like everywhere the
embedding model reads it. Its cosine is the ranker's `match_qc` feature. Seeded and reproducible on CPU.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dialog.chat import artifacts
from dialog.chat.corpus import Pair, Splitter
from dialog.chat.embedding import Embedder
from dialog.chat.text import key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatcherConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_seq_length: int = 64  # chatterbot replies are short; long ones are judged by their start
    scale: float = 20.0  # cosine -> logit, as in sentence-transformers' MultipleNegativesRankingLoss
    seed: int = 17


def training_pairs(pairs: Sequence[Pair], splitter: Splitter) -> list[Pair]:
    return [p for p in pairs if splitter(p.query) == "train"]


def train_matcher(home: Path, base_model: str, pairs: Sequence[Pair], responses: Sequence[str],
                  config: MatcherConfig = MatcherConfig(), gloss_chinese: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> dict:  # fmt: skip
    """Fine-tune `base_model` on `pairs`, encode `responses` (the indexed replies) with it, and publish
    both into <home>/models/matcher atomically. Returns a summary."""
    import torch
    import torch.nn.functional as F

    if not pairs:
        raise artifacts.ArtifactError("No training pairs for the matcher; build the index first.")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    embedder = Embedder(base_model, gloss_chinese)
    model = embedder.model
    model.max_seq_length = config.max_seq_length
    batches = _batches(pairs, config.batch_size, random.Random(config.seed), config.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / len(batches))

    def embed(texts: list[str]) -> torch.Tensor:
        return F.normalize(model(model.preprocess(embedder.prepare(texts)))["sentence_embedding"], dim=-1)

    model.train()
    loss_value = float("nan")
    for step, batch in enumerate(batches, 1):
        logits = embed([p.query for p in batch]) @ embed([p.response for p in batch]).T * config.scale
        target = torch.arange(len(batch))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        loss_value = float(loss.detach())
        if progress:
            progress(step, len(batches))
    model.eval()
    texts = sorted(set(responses))
    summary = {
        "base_model": base_model, "pairs": len(pairs), "steps": len(batches), "responses": len(texts),
        "final_loss": round(loss_value, 4), "seconds": round(time.perf_counter() - started, 1),
        "config": asdict(config), "gloss_chinese": gloss_chinese, "trained_at": time.time(),
    }  # fmt: skip
    with artifacts.publishing(artifacts.matcher_dir(home)) as out:
        model.save(str(out / "model"))
        np.save(out / "responses.npy", embedder.encode(texts))
        (out / "responses.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        (out / "meta.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _batches(pairs: Sequence[Pair], size: int, rng: random.Random, epochs: int) -> list[list[Pair]]:
    """Shuffled batches per epoch, each holding a reply once: a repeated reply would be a false
    negative for the other query that has it, so that pair waits for a later batch."""
    batches = []
    for _ in range(epochs):
        pending = list(pairs)
        rng.shuffle(pending)
        while pending:
            batch: list[Pair] = []
            later: list[Pair] = []
            replies: set[str] = set()
            for pair in pending:
                if len(batch) < size and key(pair.response) not in replies:
                    batch.append(pair)
                    replies.add(key(pair.response))
                else:
                    later.append(pair)
            if len(batch) > 1:
                batches.append(batch)
            pending = later
    return batches


def is_current(home: Path, gloss_chinese: bool) -> bool:
    """A matcher exists, trained on text prepared as the settings now ask."""
    meta = artifacts.meta(artifacts.matcher_dir(home))
    return meta is not None and meta.get("gloss_chinese", False) == gloss_chinese


class Matcher:
    """Query-to-reply cosine under the fine-tuned model; indexed replies use their stored vectors."""

    def __init__(self, root: Path) -> None:
        meta = artifacts.meta(root) or {}
        self.embedder = Embedder(str(root / "model"), meta.get("gloss_chinese", False))
        texts = json.loads((root / "responses.json").read_text(encoding="utf-8"))
        vectors = np.load(root / "responses.npy")
        self.stored = dict(zip(texts, vectors, strict=True))

    @classmethod
    def load(cls, home: Path) -> Matcher | None:
        """The trained matcher, or None (none trained, or unreadable: the feature is then missing)."""
        root = artifacts.matcher_dir(home)
        if not artifacts.exists(root):
            return None
        try:
            return cls(root)
        except (artifacts.ArtifactError, OSError, ValueError) as error:
            log.warning("The response matcher in %s cannot be loaded (%s); run `dialog train matcher`.",
                        root, error)  # fmt: skip
            return None

    def scores(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        fresh = [t for t in candidates if t not in self.stored]
        vectors = self.embedder.cached([query, *fresh])
        found = dict(zip(fresh, vectors[1:], strict=True))
        rows = np.stack([self.stored[t] if t in self.stored else found[t] for t in candidates])
        return rows @ vectors[0]
