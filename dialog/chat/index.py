"""The retrieval index: BM25 (bm25s) and dense vectors over the queries and the responses of the
indexed pairs, written into the data dir and swapped in atomically.

The held-out pairs (heldout.jsonl), the evaluation split, are left out of the index that training and
evaluation load. The running agent loads the served index, which answers them too (load(...,
serve_heldout=True)): their vectors are stored after the indexed pairs' rows, and BM25 has a second
pair of retrievers over all pairs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from dialog.chat import artifacts
from dialog.chat.corpus import Pair, Splitter, default_corpus_files, load_corpora
from dialog.chat.embedding import Embedder
from dialog.chat.text import key, tokens
from dialog.chat.topics import TopicModel

# 3: Chinese vectors of the glossed text (gloss_chinese in the meta); 4: the held-out pairs served;
# 5: the shipped corpora's digest in the meta (an upgrade that changes them rebuilds the index)
INDEX_VERSION = 5
RRF_K = 60
# The best LEADERS hits of each query->query ranking come first, whatever fusion makes of them: a
# pair whose query is (nearly) the message's ("What is your favorite book?" -> "I can't read.";
# "你会喝酒吗" / "你喝酒吗") but whose reply shares no word with it would lose the fusion to pairs
# that match a little in every ranking (that exact question's pair fused 7th, out of the top 10
# replies).
LEADERS = 2
SERVED = "_served"  # suffix of the BM25 retrievers over all pairs, held-out included
Progress = Callable[[str, int, int], None]  # (stage, advance, total)


@dataclass(frozen=True)
class Hit:
    """One indexed pair as matched against a query."""

    pair: int  # row in the index
    fused: float  # reciprocal-rank fusion of the four rankings
    bm25_qq: float  # query vs indexed query, relative to the best BM25 score of this search
    bm25_qr: float  # query vs indexed response, likewise
    dense_qq: float  # cosine, query vs indexed query
    dense_qr: float  # cosine, query vs indexed response


class RetrievalIndex:
    def __init__(self, root: Path, pairs: list[Pair], query_vecs: np.ndarray, response_vecs: np.ndarray,
                 bm25_queries: bm25s.BM25, bm25_responses: bm25s.BM25, meta: dict) -> None:  # fmt: skip
        self.root = root
        self.pairs = pairs
        self.query_vecs = query_vecs
        self.response_vecs = response_vecs
        self.bm25_queries = bm25_queries
        self.bm25_responses = bm25_responses
        self.meta = meta
        self.topics = TopicModel.load(root)
        self.query_keys = [key(p.query) for p in pairs]
        self.response_keys = [key(p.response) for p in pairs]
        # genericness: how many different queries share a response ("OK", "Hello"...)
        distinct = {(q, r) for q, r in zip(self.query_keys, self.response_keys, strict=True)}
        self.response_fanout = Counter(r for _, r in distinct)
        self.response_row: dict[str, int] = {}
        for row, pair in enumerate(pairs):
            self.response_row.setdefault(pair.response, row)

    # ------------------------------------------------------------------ build / load

    @classmethod
    def build(cls, home: Path, corpus_files: Sequence[Path], embedder: Embedder, splitter: Splitter, *,
              include_default: bool = True, progress: Progress | None = None) -> dict:  # fmt: skip
        """Load every corpus file first (a bad one raises before anything is written), then build.

        The operator's `corpus_files` are checked strictly; the shipped chatterbot-corpus (with
        `include_default`) has one malformed entry, which is skipped and named in the metadata.
        """
        progress = progress or (lambda stage, advance, total: None)
        skipped: list[str] = []
        defaults = default_corpus_files() if include_default else []
        pairs = load_corpora(defaults, skipped) + load_corpora(corpus_files)
        indexed = [p for p in pairs if splitter(p.query) != "heldout"]
        heldout = [p for p in pairs if splitter(p.query) == "heldout"]
        if not indexed:
            raise artifacts.ArtifactError("The corpora hold no pairs to index.")
        served = indexed + heldout  # vector rows: the indexed pairs', then the held-out ones'
        total = 2 * len(served)
        progress("embedding", 0, total)
        on_batch = lambda n: progress("embedding", n, total)  # noqa: E731
        query_vecs = embedder.encode([p.query for p in served], on_batch=on_batch)
        response_vecs = embedder.encode([p.response for p in served], on_batch=on_batch)
        with artifacts.publishing(artifacts.index_dir(home)) as out:
            _save_bm25(out, "", indexed)
            if heldout:
                _save_bm25(out, SERVED, served)
            np.save(out / "query_vecs.npy", query_vecs)
            np.save(out / "response_vecs.npy", response_vecs)
            topics = TopicModel.train([p for p in indexed if splitter(p.query) == "train"])
            if topics is not None:
                topics.save(out)
            _write_jsonl(out / "pairs.jsonl", indexed)
            _write_jsonl(out / "heldout.jsonl", heldout)
            meta = {
                "version": INDEX_VERSION,
                "built_at": time.time(),
                "embedding_model": embedder.model_name,
                "gloss_chinese": embedder.gloss_chinese,
                "corpora": [str(p) for p in [*defaults, *corpus_files]],
                "default_corpora_digest": default_corpora_digest() if include_default else None,
                "skipped": skipped,
                "pairs": len(indexed),
                "heldout_pairs": len(heldout),
                "splits": dict(Counter(splitter(p.query) for p in pairs)),
                "splitter": {"heldout": splitter.heldout, "ranker": splitter.ranker, "salt": splitter.salt},
            }
            (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        return meta

    @classmethod
    def load(cls, home: Path, serve_heldout: bool = False) -> RetrievalIndex:
        """The index of the indexed pairs; with `serve_heldout`, of the held-out pairs too (the running
        agent's: never for training or evaluation)."""
        root = artifacts.index_dir(home)
        if not artifacts.exists(root):
            raise artifacts.ArtifactError(f"No retrieval index in {root}; run `dialog index build`.")
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != INDEX_VERSION:
            raise artifacts.ArtifactError(f"The index in {root} is of another version; rebuild it.")
        pairs = read_jsonl(root / "pairs.jsonl")
        suffix = ""
        if serve_heldout and meta["heldout_pairs"]:
            pairs += read_jsonl(root / "heldout.jsonl")
            suffix = SERVED
        return cls(
            root,
            pairs,
            np.load(root / "query_vecs.npy")[: len(pairs)],
            np.load(root / "response_vecs.npy")[: len(pairs)],
            bm25s.BM25.load(str(root / f"bm25_queries{suffix}"), show_progress=False),
            bm25s.BM25.load(str(root / f"bm25_responses{suffix}"), show_progress=False),
            meta,
        )

    def heldout(self) -> list[Pair]:
        return read_jsonl(self.root / "heldout.jsonl")

    def splitter(self) -> Splitter:
        return Splitter(**self.meta["splitter"])

    # ------------------------------------------------------------------ search

    def search(
        self, text: str, vec: np.ndarray | None, k: int = 30, exclude_query: str | None = None
    ) -> list[Hit]:
        """The k best pairs by reciprocal-rank fusion of BM25 and dense, query->query and ->response.

        vec None: BM25 only (a language the embedding model does not serve); dense scores are NaN.
        exclude_query masks the pairs whose query has that key (leave-one-out while training the ranker).
        """
        words = list(tokens(text))
        bm25_qq = self.bm25_queries.get_scores(words) if words else np.zeros(len(self.pairs))
        bm25_qr = self.bm25_responses.get_scores(words) if words else np.zeros(len(self.pairs))
        nan = np.full(len(self.pairs), np.nan, dtype=np.float32)
        dense_qq = self.query_vecs @ vec if vec is not None else nan
        dense_qr = self.response_vecs @ vec if vec is not None else nan
        rankings = [bm25_qq, bm25_qr] + ([dense_qq, dense_qr] if vec is not None else [])
        mask = np.ones(len(self.pairs), dtype=bool)
        if exclude_query is not None:
            masked = key(exclude_query)
            mask = np.array([q != masked for q in self.query_keys])
        fused = np.zeros(len(self.pairs))
        leaders: set[int] = set()  # each query->query ranking's best, whatever fusion makes of them
        depth = min(len(self.pairs), 4 * k)
        for scores in rankings:
            ranked = np.where(mask, scores, -np.inf)
            top = np.argpartition(-ranked, depth - 1)[:depth]
            top = top[np.argsort(-ranked[top])]
            counted = [
                row
                for row in top
                if mask[row] and (scores is dense_qq or scores is dense_qr or scores[row] > 0)
            ]
            for rank, row in enumerate(counted):
                fused[row] += 1.0 / (RRF_K + rank + 1)
            if scores is bm25_qq or scores is dense_qq:
                leaders.update(int(row) for row in counted[:LEADERS])
        first = sorted(leaders, key=lambda row: -fused[row])
        best = [*first, *(int(row) for row in np.argsort(-fused) if row not in leaders)][:k]
        max_qq = float(bm25_qq.max()) or 1.0
        max_qr = float(bm25_qr.max()) or 1.0
        return [
            Hit(
                int(i),
                float(fused[i]),
                float(bm25_qq[i] / max_qq),
                float(bm25_qr[i] / max_qr),
                float(dense_qq[i]),
                float(dense_qr[i]),
            )
            for i in best
            if fused[i] > 0
        ]


def is_current(home: Path, gloss_chinese: bool) -> bool:
    """An index of this version exists, its vectors made as the settings now ask, from the shipped
    corpora as they are now (an upgrade that changes them, the persona's pairs say, rebuilds it)."""
    meta = artifacts.meta(artifacts.index_dir(home))
    if meta is None:
        return False
    shipped = meta.get("default_corpora_digest")
    return (
        meta.get("version") == INDEX_VERSION
        and meta.get("gloss_chinese", False) == gloss_chinese
        and (shipped is None or shipped == default_corpora_digest())
    )


def default_corpora_digest() -> str:
    digest = hashlib.sha256()
    for path in default_corpus_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _save_bm25(out: Path, suffix: str, pairs: Sequence[Pair]) -> None:
    queries, responses = [p.query for p in pairs], [p.response for p in pairs]
    for name, texts in (("bm25_queries", queries), ("bm25_responses", responses)):
        retriever = bm25s.BM25()
        retriever.index([list(tokens(t)) or ["<empty>"] for t in texts], show_progress=False)
        retriever.save(str(out / f"{name}{suffix}"), show_progress=False)


def _write_jsonl(path: Path, pairs: Sequence[Pair]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.to_json(), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[Pair]:
    with open(path, encoding="utf-8") as handle:
        return [Pair.from_json(json.loads(line)) for line in handle if line.strip()]
