"""The retrieval index: BM25 (bm25s) over the queries and the responses of the indexed pairs, and one
dense vector per distinct text (query, response or context), written into the data dir and swapped in
atomically. The vectors are searched in the shared Redis vector set when one is published for this
build (vectors.py: one copy for every worker and host), else exactly in process over the memory-mapped
matrix (workers of one host share its pages).

One vector per distinct text, not per pair: in conversation data a reply is the next pair's message, so
that halves the encoding, and one nearest-neighbour search gives both the query->query and the
query->response rankings (a text row expands to the pairs that have it as query, and as response).

The held-out pairs (heldout.jsonl), the evaluation split, are left out of the index that training and
evaluation load. The running agent loads the served index, which answers them too (load(...,
serve_heldout=True)): their vectors are stored after the indexed pairs' rows, and BM25 has a second
pair of retrievers over all pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import bm25s
import numpy as np

from dialog.chat import artifacts
from dialog.chat.corpus import (
    CONTEXT_TURNS,
    ZH_REVIEW_FILE,
    Pair,
    Splitter,
    default_corpus_files,
    load_corpora,
    reviewed,
)
from dialog.chat.embedding import USE_MODEL, Embedder
from dialog.chat.topics import TopicModel
from dialog.chat.vectors import SharedVectors, VectorIndexError
from dialog_core.text import key, tokens

if TYPE_CHECKING:
    from dialog_core.services import Services
    from dialog_core.settings import Settings

# 3: Chinese vectors of the glossed text (gloss_chinese in the meta); 4: the held-out pairs served;
# 5: the shipped corpora's digest in the meta (an upgrade that changes them rebuilds the index)
# 6: one vector per distinct text (vectors.npy, rows.npy), the chitchat corpus, a shared vector set
INDEX_VERSION = 6
RRF_K = 60
# The best LEADERS hits of each query->query ranking come first, whatever fusion makes of them: a
# pair whose query is (nearly) the message's ("What is your favorite book?" -> "I can't read.";
# "你会喝酒吗" / "你喝酒吗") but whose reply shares no word with it would lose the fusion to pairs
# that match a little in every ranking (that exact question's pair fused 7th, out of the top 10
# replies).
LEADERS = 2
SERVED = "_served"  # suffix of the BM25 retrievers over all pairs, held-out included
DEPTH = 200  # text rows asked of the nearest-neighbour search for one query
PAIRS_PER_TEXT = 8  # a text that opens hundreds of pairs ("hi") gives the first few of them
# The last exchange's weight in the contextual query vector: "what's your favorite one?" after talk of
# movies then lies nearest to indexed questions about favourite movies.
CONTEXT_WEIGHT = 0.6
SHARED_SET = "texts"  # the name of the index's vector set (vectors.py)
Progress = Callable[[str, int, int], None]  # (stage, advance, total)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """One indexed pair as matched against a query."""

    pair: int  # row in the index
    fused: float  # reciprocal-rank fusion of the rankings
    bm25_qq: float  # query vs indexed query, relative to the best BM25 score of this search
    bm25_qr: float  # query vs indexed response, likewise
    dense_qq: float  # cosine, query vs indexed query
    dense_qr: float  # cosine, query vs indexed response


class Nearest(Protocol):
    """Nearest-neighbour search over the index's text vectors."""

    @property
    def description(self) -> str:
        """Where the search runs, for `dialog doctor`."""
        ...

    def nearest(self, vec: np.ndarray, k: int) -> np.ndarray:
        """Rows of the k texts nearest to `vec`, best first."""
        ...


class ExactNearest:
    """Exact cosine search over the memory-mapped vectors (a matrix-vector product per query)."""

    def __init__(self, vectors: np.ndarray, why: str = "") -> None:
        self.vectors = vectors
        self.description = f"exact search in process ({why})" if why else "exact search in process"

    def nearest(self, vec: np.ndarray, k: int) -> np.ndarray:
        scores = self.vectors @ vec
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top])]


class SharedNearest:
    """The Redis vector set published for this build; exact search in process when it fails (one
    warning, then exact search until the index is reloaded)."""

    def __init__(self, shared: SharedVectors, build_id: str, fallback: ExactNearest) -> None:
        self.shared = shared
        self.build_id = build_id
        self.fallback = fallback
        self.failed: str | None = None

    @property
    def description(self) -> str:
        return self.failed or "the shared Redis vector set"

    def nearest(self, vec: np.ndarray, k: int) -> np.ndarray:
        if self.failed is None:
            try:
                return self.shared.search(self.build_id, SHARED_SET, vec, k)[0]
            except VectorIndexError as error:
                self.failed = f"{error} Core chat searches its own copy of the vectors meanwhile."
                log.warning("%s", self.failed)
        return self.fallback.nearest(vec, k)


class RetrievalIndex:
    def __init__(self, root: Path, pairs: list[Pair], vectors: np.ndarray, rows: np.ndarray,
                 bm25_queries: bm25s.BM25, bm25_responses: bm25s.BM25, meta: dict,
                 shared: SharedVectors | None = None, why_local: str = "") -> None:  # fmt: skip
        self.root = root
        self.pairs = pairs
        self.vectors = vectors  # one row per distinct text (memory-mapped)
        self.rows = rows[: len(pairs)]  # per pair: its query's, response's and context's vector rows
        self.bm25_queries = bm25_queries
        self.bm25_responses = bm25_responses
        self.meta = meta
        self.topics = TopicModel.load(root)
        exact = ExactNearest(vectors, why_local)
        self.dense: Nearest = SharedNearest(shared, meta["build_id"], exact) if shared else exact
        self.query_keys = [key(p.query) for p in pairs]
        self.response_keys = [key(p.response) for p in pairs]
        # genericness: how many different queries share a response ("OK", "Hello"...)
        distinct = {(q, r) for q, r in zip(self.query_keys, self.response_keys, strict=True)}
        self.response_fanout = Counter(r for _, r in distinct)
        self.response_row: dict[str, int] = {}
        self.text_row: dict[str, int] = {}  # vector row of each query and response text
        for row, pair in enumerate(pairs):
            self.response_row.setdefault(pair.response, row)
            self.text_row.setdefault(pair.query, int(self.rows[row, 0]))
            self.text_row.setdefault(pair.response, int(self.rows[row, 1]))
        self._by_query_key: dict[str, list[int]] = {}
        for row, query_key in enumerate(self.query_keys):
            self._by_query_key.setdefault(query_key, []).append(row)
        self._expansions = [_Expansion(self.rows[:, column]) for column in (0, 1)]

    # ------------------------------------------------------------------ build / load

    @classmethod
    def build(cls, home: Path, corpus_files: Sequence[Path], embedder: Embedder, splitter: Splitter, *,
              include_default: bool = True, progress: Progress | None = None,
              shared: SharedVectors | None = None) -> dict:  # fmt: skip
        """Load every corpus file first (a bad one raises before anything is written), then build.

        The operator's `corpus_files` are checked strictly; the shipped chatterbot-corpus (with
        `include_default`) has one malformed entry, which is skipped and named in the metadata. With
        `shared`, the vectors are also published as a Redis vector set, made current once the files are.
        """
        progress = progress or (lambda stage, advance, total: None)
        skipped: list[str] = []
        defaults = default_corpus_files() if include_default else []
        pairs = reviewed(load_corpora(defaults, skipped)) + load_corpora(corpus_files)
        if include_default:
            pairs += chitchat_pairs(pairs)
        indexed = [p for p in pairs if splitter(p.query) != "heldout"]
        heldout = [p for p in pairs if splitter(p.query) == "heldout"]
        if not indexed:
            raise artifacts.ArtifactError("The corpora hold no pairs to index.")
        served = indexed + heldout  # pair rows: the indexed pairs, then the held-out ones
        texts = list(dict.fromkeys(t for p in served for t in (p.query, p.response, *p.context)))
        row_of = {text: row for row, text in enumerate(texts)}
        rows = np.full((len(served), 2 + CONTEXT_TURNS), -1, dtype=np.int32)
        for i, pair in enumerate(served):
            rows[i, : 2 + len(pair.context)] = [row_of[t] for t in (pair.query, pair.response, *pair.context)]
        progress("embedding", 0, len(texts))
        vectors = embedder.encode(texts, on_batch=lambda n: progress("embedding", n, len(texts)))
        build_id = uuid.uuid4().hex
        shared_note = None
        with artifacts.publishing(artifacts.index_dir(home)) as out:
            _save_bm25(out, "", indexed)
            if heldout:
                _save_bm25(out, SERVED, served)
            np.save(out / "vectors.npy", vectors)
            np.save(out / "rows.npy", rows)
            topics = TopicModel.train([p for p in indexed if splitter(p.query) == "train"])
            if topics is not None:
                topics.save(out)
            _write_jsonl(out / "pairs.jsonl", indexed)
            _write_jsonl(out / "heldout.jsonl", heldout)
            if shared is not None:
                shared_note = shared.support()
                if shared_note is None:
                    shared.publish(build_id, SHARED_SET, vectors,
                                   progress=lambda n, total: progress("vector set", n, total))  # fmt: skip
            meta = {
                "version": INDEX_VERSION,
                "build_id": build_id,
                "built_at": time.time(),
                "embedding_model": embedder.model_name,
                "gloss_chinese": embedder.gloss_chinese,
                "corpora": [str(p) for p in [*defaults, *corpus_files]],
                "default_corpora_digest": default_corpora_digest() if include_default else None,
                "skipped": skipped,
                "pairs": len(indexed),
                "heldout_pairs": len(heldout),
                "texts": len(texts),
                "sources": dict(Counter(p.source.split(":")[0] for p in served)),
                "shared_vectors": shared is not None and shared_note is None,
                "splits": dict(Counter(splitter(p.query) for p in pairs)),
                "splitter": {"heldout": splitter.heldout, "ranker": splitter.ranker, "salt": splitter.salt},
            }
            (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        if shared is not None and shared_note is None:
            shared.switch(build_id)
        return meta

    @classmethod
    def load(cls, home: Path, serve_heldout: bool = False, shared: SharedVectors | None = None
             ) -> RetrievalIndex:  # fmt: skip
        """The index of the indexed pairs; with `serve_heldout`, of the held-out pairs too (the running
        agent's: never for training or evaluation). With `shared`, dense search goes to the Redis vector
        set published for this build, when there is one (else exact search, and one warning)."""
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
        problem = ""
        if shared is not None:
            problem = shared.support() or (
                "" if shared.holds(meta["build_id"], SHARED_SET) else
                "The shared vector set holds no vectors of this index; `dialog setup` publishes them."
            )  # fmt: skip
            if problem:
                log.warning("%s Core chat searches its own copy of the vectors.", problem)
                shared = None
        return cls(
            root,
            pairs,
            np.load(root / "vectors.npy", mmap_mode="r"),
            np.load(root / "rows.npy"),
            bm25s.BM25.load(str(root / f"bm25_queries{suffix}"), show_progress=False),
            bm25s.BM25.load(str(root / f"bm25_responses{suffix}"), show_progress=False),
            meta,
            shared,
            problem,
        )

    def heldout(self) -> list[Pair]:
        return read_jsonl(self.root / "heldout.jsonl")

    def splitter(self) -> Splitter:
        return Splitter(**self.meta["splitter"])

    def query_vectors(self, pair_rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.asarray(self.vectors[self.rows[np.asarray(pair_rows, dtype=np.int64), 0]])

    def response_vectors(self, pair_rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.asarray(self.vectors[self.rows[np.asarray(pair_rows, dtype=np.int64), 1]])

    # ------------------------------------------------------------------ search

    def search(self, text: str, vec: np.ndarray | None, k: int = 30, exclude_query: str | None = None,
               context_vec: np.ndarray | None = None) -> list[Hit]:  # fmt: skip
        """The k best pairs by reciprocal-rank fusion of BM25 (message vs indexed query, and vs response)
        and dense search (the same two, and the message in its context vs indexed queries).

        vec None: BM25 only (a language the embedding model does not serve); dense scores are NaN.
        exclude_query masks the pairs whose query has that key (leave-one-out while training the ranker).
        context_vec: the normalised mean vector of the last exchange, for the contextual ranking.
        """
        words = list(tokens(text))
        bm25_qq = self.bm25_queries.get_scores(words) if words else np.zeros(len(self.pairs))
        bm25_qr = self.bm25_responses.get_scores(words) if words else np.zeros(len(self.pairs))
        excluded = set(self._by_query_key.get(key(exclude_query), ())) if exclude_query else set()
        depth = min(len(self.pairs), 4 * k)
        rankings = {"bm25_qq": _top(bm25_qq, depth, excluded), "bm25_qr": _top(bm25_qr, depth, excluded)}
        if vec is not None:
            nearest = self.dense.nearest(vec, DEPTH)
            rankings["dense_qq"] = self._expansions[0].pairs(nearest, depth, excluded)
            rankings["dense_qr"] = self._expansions[1].pairs(nearest, depth, excluded)
            if context_vec is not None:
                rankings["dense_cq"] = self._in_context(
                    vec, context_vec, rankings["dense_qq"], depth, excluded
                )
        fused: dict[int, float] = {}
        for ranked in rankings.values():
            for rank, row in enumerate(ranked):
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        # In a conversation the leaders are the best matches of message *and* context: the pairs of
        # the very question asked ("what's your favorite one?") are many, and the context tells which.
        led = ("dense_cq",) if "dense_cq" in rankings else ("bm25_qq", "dense_qq")
        leaders = {row for name in led for row in rankings.get(name, [])[:LEADERS]}
        first = sorted(leaders, key=lambda row: -fused[row])
        rest = sorted((row for row in fused if row not in leaders), key=lambda row: -fused[row])
        best = [*first, *rest][:k]
        if vec is not None and best:
            dense_qq = self.query_vectors(best) @ vec
            dense_qr = self.response_vectors(best) @ vec
        else:
            dense_qq = dense_qr = np.full(len(best), np.nan, dtype=np.float32)
        max_qq = float(bm25_qq.max()) if len(bm25_qq) else 0.0
        max_qr = float(bm25_qr.max()) if len(bm25_qr) else 0.0
        return [
            Hit(
                row,
                fused[row],
                float(bm25_qq[row] / (max_qq or 1.0)),
                float(bm25_qr[row] / (max_qr or 1.0)),
                float(dense_qq[i]),
                float(dense_qr[i]),
            )
            for i, row in enumerate(best)
        ]

    def _in_context(self, vec: np.ndarray, context_vec: np.ndarray, near_message: list[int], depth: int,
                    excluded: set[int]) -> list[int]:  # fmt: skip
        """Pairs ranked by cos(message, their query) + CONTEXT_WEIGHT x cos(last exchange, what led to
        them): the utterances before their query, or the query itself for a pair without context.
        Drawn from the pairs near the message and those near the message mixed with its context (which
        finds "What's your favorite movie?" for "what's your favorite one?" after talk of movies)."""
        mixed = vec + CONTEXT_WEIGHT * context_vec
        near_both = self._expansions[0].pairs(self.dense.nearest(mixed / np.linalg.norm(mixed), DEPTH), depth,
                                              excluded)  # fmt: skip
        rows = np.array(list(dict.fromkeys([*near_message, *near_both])), dtype=np.int64)
        if not len(rows):
            return []
        score = self.query_vectors(rows) @ vec + CONTEXT_WEIGHT * (self._lead_vectors(rows) @ context_vec)
        return [int(r) for r in rows[np.argsort(-score, kind="stable")][:depth]]

    def _lead_vectors(self, pair_rows: np.ndarray) -> np.ndarray:
        """Per pair, the normalised mean vector of the utterances before its query (its query's alone
        when it has none)."""
        context = self.rows[pair_rows, 2:]
        present = context >= 0
        summed = np.zeros((len(pair_rows), self.vectors.shape[1]), dtype=np.float32)
        for column in range(context.shape[1]):
            has = present[:, column]
            summed[has] += self.vectors[context[has, column]]
        alone = ~present.any(axis=1)
        summed[alone] = self.query_vectors(pair_rows[alone])
        return summed / np.linalg.norm(summed, axis=1, keepdims=True).clip(1e-9)


class _Expansion:
    """From text rows to the pairs that hold each text in one column (query or response)."""

    def __init__(self, column: np.ndarray) -> None:
        self.order = np.argsort(column, kind="stable")
        self.sorted = column[self.order]

    def pairs(self, text_rows: np.ndarray, limit: int, excluded: set[int]) -> list[int]:
        found: list[int] = []
        starts = np.searchsorted(self.sorted, text_rows, side="left")
        ends = np.searchsorted(self.sorted, text_rows, side="right")
        for start, end in zip(starts, ends, strict=True):
            rows = [
                int(r) for r in self.order[start : min(end, start + PAIRS_PER_TEXT)] if int(r) not in excluded
            ]
            found.extend(rows)
            if len(found) >= limit:
                break
        return found[:limit]


def _top(scores: np.ndarray, depth: int, excluded: set[int]) -> list[int]:
    """The best `depth` rows with a positive score, best first, without the excluded ones."""
    if depth <= 0:
        return []
    want = min(len(scores), depth + len(excluded))
    top = np.argpartition(-scores, want - 1)[:want]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [int(row) for row in top if scores[row] > 0 and int(row) not in excluded][:depth]


def chitchat_pairs(before: Sequence[Pair]) -> list[Pair]:
    """The cleaned human chit-chat corpus (chitchat.py), without pairs the other corpora already hold."""
    from dialog.chat.chitchat import load_chitchat

    seen = {(p.query, p.response) for p in before}
    return [p for p in load_chitchat() if (p.query, p.response) not in seen]


def is_current(home: Path, gloss_chinese: bool, embedding_model: str = "") -> bool:
    """An index of this version exists, its vectors made as the settings now ask (encoder and gloss),
    from the shipped corpora as they are now (an upgrade that changes them, the persona's pairs say,
    rebuilds it)."""
    meta = artifacts.meta(artifacts.index_dir(home))
    if meta is None:
        return False
    shipped = meta.get("default_corpora_digest")
    return (
        meta.get("version") == INDEX_VERSION
        and meta.get("gloss_chinese", False) == gloss_chinese
        and meta.get("embedding_model") == (embedding_model or USE_MODEL)
        and (shipped is None or shipped == default_corpora_digest())
    )


def is_published(settings: Settings, services: Services) -> bool:
    """The index's vectors are in the shared vector set, or need not (or cannot) be."""
    from dialog.chat.assembly import Parts

    meta = artifacts.meta(artifacts.index_dir(settings.home))
    shared = Parts(settings, services=services).shared_vectors
    if shared is None or meta is None:
        return True
    return shared.support() is not None or shared.holds(meta["build_id"], SHARED_SET)


def publish(home: Path, shared: SharedVectors, progress: Progress | None = None) -> int:
    """Publish the vectors of the index in `home` as its build's shared vector set and switch to it (a
    host whose Redis was emptied, or an index built before the setting said redis). The count published."""
    meta = artifacts.meta(artifacts.index_dir(home))
    if meta is None:
        raise artifacts.ArtifactError(
            f"No retrieval index in {artifacts.index_dir(home)}; run `dialog setup`."
        )
    vectors = np.load(artifacts.index_dir(home) / "vectors.npy", mmap_mode="r")
    report = progress or (lambda stage, advance, total: None)
    shared.publish(
        meta["build_id"], SHARED_SET, vectors, progress=lambda n, total: report("vector set", n, total)
    )
    shared.switch(meta["build_id"])
    return len(vectors)


def default_corpora_digest() -> str:
    """Of the shipped corpus files, the chit-chat dataset and its cleaning rules (chitchat.py)."""
    from dialog.chat import chitchat

    digest = hashlib.sha256()
    for path in [*default_corpus_files(), ZH_REVIEW_FILE, chitchat.CHITCHAT_FILE, Path(chitchat.__file__)]:
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
