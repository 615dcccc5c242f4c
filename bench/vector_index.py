"""Dense search alone: the shared Redis vector set (dialog/chat/vectors.py) against exact search in
process, on the default index's real USE vectors and on random ones.

    .venv/bin/python bench/vector_index.py --home DIR [--random 100000] [--shards 4] [--ef 100,200,400]

--home: a data dir after `dialog setup` (its index/vectors.npy is published into a fresh embedded
server). Queries are the user turns of bench/conversations_*.yaml, encoded with the index's encoder:
messages that are in no corpus. For each search EF it prints recall@k of the vector set against exact
search, p50/p95 per query, and the build time (VADD, one connection per shard); the same for exact
numpy search. --random N adds N random unit vectors of the same width (the worst case for HNSW).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from dialog.chat import vectors as shared_vectors
from dialog.chat.embedding import Embedder
from dialog.chat.index import ExactNearest
from dialog.runtime.embedded import EmbeddedServer

BENCH = Path(__file__).parent
K = 10  # recall@K; --k sets it (core chat asks DEPTH=200 texts per search)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def user_turns() -> list[str]:
    turns = []
    for language in ("en", "zh"):
        for script in yaml.safe_load((BENCH / f"conversations_{language}.yaml").read_text(encoding="utf-8")):
            turns.extend(script["turns"])
    return list(dict.fromkeys(turns))


def measure(label: str, matrix: np.ndarray, queries: np.ndarray, shards: int, efs: list[int]) -> list[dict]:
    exact = ExactNearest(matrix)
    truth, exact_ms = [], []
    for query in queries:
        started = time.perf_counter()
        truth.append(exact.nearest(query, K))
        exact_ms.append(1000 * (time.perf_counter() - started))
    rows = [
        {
            "vectors": label,
            "search": "exact numpy",
            "n": len(matrix),
            "build_s": 0.0,
            "recall@k": 1.0,
            "p50_ms": percentile(exact_ms, 0.5),
            "p95_ms": percentile(exact_ms, 0.95),
        }
    ]
    with tempfile.TemporaryDirectory() as home:
        server = EmbeddedServer(Path(home))
        server.ensure_running()
        try:
            store = shared_vectors.SharedVectors(server.client(timeout=60.0), "bench", shards)
            started = time.perf_counter()
            store.publish("b", "texts", matrix)
            build_s = time.perf_counter() - started
            for ef in efs:
                shared_vectors.SEARCH_EF = ef
                found, search_ms = [], []
                for query in queries:
                    started = time.perf_counter()
                    found.append(store.search("b", "texts", query, K)[0])
                    search_ms.append(1000 * (time.perf_counter() - started))
                recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
                rows.append(
                    {
                        "vectors": label,
                        "search": f"vector set, {shards} shards, EF {ef}",
                        "n": len(matrix),
                        "build_s": round(build_s, 1),
                        "recall@k": round(float(recall), 3),
                        "p50_ms": percentile(search_ms, 0.5),
                        "p95_ms": percentile(search_ms, 0.95),
                    }
                )
        finally:
            server.stop()
    return rows


def main() -> None:
    global K
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--random", type=int, default=0, help="also N random unit vectors")
    parser.add_argument("--shards", type=int, default=shared_vectors.SHARDS)
    parser.add_argument("--ef", default="100,200,400", help="search exploration factors to try")
    parser.add_argument("--build-ef", type=int, default=shared_vectors.BUILD_EF, help="insertion EF")
    parser.add_argument("--k", type=int, default=K, help="neighbours asked and scored (recall@k)")
    args = parser.parse_args()
    K = args.k
    shared_vectors.BUILD_EF = args.build_ef
    efs = [int(e) for e in args.ef.split(",")]
    meta = json.loads((args.home / "index" / "meta.json").read_text(encoding="utf-8"))
    matrix = np.load(args.home / "index" / "vectors.npy")
    queries = Embedder(meta["embedding_model"], meta["gloss_chinese"]).encode(user_turns())
    results = measure(f"{meta['embedding_model']} index", matrix, queries, args.shards, efs)
    if args.random:
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((args.random, matrix.shape[1])).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        results += measure("random", noise, queries, args.shards, efs)
    print(
        f"{len(queries)} queries (bench conversations' user turns), k={K}, build EF {args.build_ef}, 2 cores"
    )
    print(
        f"{'vectors':<14} {'search':<32} {'n':>8} {'build s':>8} {'recall@k':>8} {'p50 ms':>7} {'p95 ms':>7}"
    )
    for row in results:
        print(
            f"{row['vectors']:<14} {row['search']:<32} {row['n']:>8} {row['build_s']:>8} "
            f"{row['recall@k']:>9} {row['p50_ms']:>7.2f} {row['p95_ms']:>7.2f}"
        )


if __name__ == "__main__":
    main()
