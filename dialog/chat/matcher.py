"""`dialog train matcher`: a response-selection head over the index's sentence vectors, trained on the
'train' split only (never the ranker's or the held-out queries).

The encoder measures whether two texts *mean* the same; a reply rarely means what its message means.
The matcher learns two linear maps, one for messages and one for replies, from identity, with in-batch
negatives both ways (each message against every other reply of its batch, and each reply against every
message; cosine x 20, cross-entropy), so that a message lies near the replies that *answer* it. It
trains on the stored vectors (no encoder pass): seconds for 100k pairs, where fine-tuning MiniLM took
220 s for 1,300. The small corpora are repeated so that the human chit-chat corpus does not drown them
(`balance`). Its cosine is the ranker's `match_qc` feature. Seeded and reproducible on CPU.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dialog.chat import artifacts
from dialog.chat.corpus import Pair, Splitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatcherConfig:
    epochs: int = 3
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    scale: float = 20.0  # cosine -> logit, as in sentence-transformers' MultipleNegativesRankingLoss
    balance: float = 0.2  # a source with fewer pairs is repeated up to this share of the largest one
    seed: int = 17


def training_rows(pairs: Sequence[Pair], splitter: Splitter) -> list[int]:
    return [row for row, p in enumerate(pairs) if splitter(p.query) == "train"]


def train_matcher(home: Path, pairs: Sequence[Pair], query_vecs: np.ndarray, response_vecs: np.ndarray,
                  index_build: str, config: MatcherConfig = MatcherConfig(),
                  progress: Callable[[int, int], None] | None = None) -> dict:  # fmt: skip
    """Train on `pairs` with their vectors and publish <home>/models/matcher atomically."""
    import torch
    import torch.nn.functional as F

    if not len(pairs):
        raise artifacts.ArtifactError("No training pairs for the matcher; build the index first.")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rows = _balanced(pairs, config.balance, random.Random(config.seed))
    queries, replies = torch.from_numpy(query_vecs[rows]), torch.from_numpy(response_vecs[rows])
    dim = queries.shape[1]
    query_map, reply_map = (torch.nn.Linear(dim, dim, bias=False) for _ in range(2))
    for linear in (query_map, reply_map):
        torch.nn.init.eye_(linear.weight)
    maps = torch.nn.ModuleList([query_map, reply_map])
    optimizer = torch.optim.AdamW(
        maps.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = config.epochs * -(-len(rows) // config.batch_size)
    loss_value, step = float("nan"), 0
    for _ in range(config.epochs):
        for batch in torch.randperm(len(rows)).split(config.batch_size):
            q = F.normalize(query_map(queries[batch]), dim=-1)
            r = F.normalize(reply_map(replies[batch]), dim=-1)
            logits = q @ r.T * config.scale
            target = torch.arange(len(batch))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_value, step = float(loss.detach()), step + 1
            if progress:
                progress(step, steps)
    summary = {
        "pairs": len(pairs), "examples": len(rows), "steps": steps, "final_loss": round(loss_value, 4),
        "seconds": round(time.perf_counter() - started, 1), "config": asdict(config),
        "index_build": index_build, "trained_at": time.time(),
    }  # fmt: skip
    with artifacts.publishing(artifacts.matcher_dir(home)) as out:
        np.savez(
            out / "maps.npz", query=query_map.weight.detach().numpy(), reply=reply_map.weight.detach().numpy()
        )
        (out / "meta.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _balanced(pairs: Sequence[Pair], share: float, rng: random.Random) -> list[int]:
    """Row numbers, each source's repeated until it holds `share` of the largest source's count."""
    by_source: dict[str, list[int]] = {}
    for row, pair in enumerate(pairs):
        by_source.setdefault(source_of(pair), []).append(row)
    largest = max(Counter({s: len(r) for s, r in by_source.items()}).values())
    rows: list[int] = []
    for source_rows in by_source.values():
        repeats = max(1, int(share * largest / len(source_rows)))
        rows.extend(source_rows * repeats)
    rng.shuffle(rows)
    return rows


def source_of(pair: Pair) -> str:
    """The corpus a pair comes from: 'chitchat' for the human chit-chat corpus, else the file's name."""
    return pair.source.split(":")[0]


def is_current(home: Path) -> bool:
    """A matcher exists, trained on the vectors of the index that is there now."""
    meta, index = artifacts.meta(artifacts.matcher_dir(home)), artifacts.meta(artifacts.index_dir(home))
    return meta is not None and index is not None and meta.get("index_build") == index.get("build_id")


class Matcher:
    """Message-to-reply cosine under the trained maps, over the encoder's vectors."""

    def __init__(self, root: Path) -> None:
        maps = np.load(root / "maps.npz")
        self.query_map, self.reply_map = maps["query"].T.copy(), maps["reply"].T.copy()
        self.meta = artifacts.meta(root) or {}

    @classmethod
    def load(cls, home: Path) -> Matcher | None:
        """The trained matcher, or None (none trained, or unreadable: the feature is then missing)."""
        root = artifacts.matcher_dir(home)
        if not artifacts.exists(root):
            return None
        try:
            return cls(root)
        except (OSError, ValueError, KeyError) as error:
            log.warning("The response matcher in %s cannot be loaded (%s); run `dialog train matcher`.",
                        root, error)  # fmt: skip
            return None

    def scores(self, query_vec: np.ndarray, candidate_vecs: np.ndarray) -> np.ndarray:
        q = query_vec @ self.query_map
        r = candidate_vecs @ self.reply_map
        q /= np.linalg.norm(q) or 1.0
        r /= np.linalg.norm(r, axis=1, keepdims=True).clip(1e-9)
        return r @ q
