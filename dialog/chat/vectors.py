"""Core chat's text vectors in Redis vector sets (Redis 8: VADD/VSIM, HNSW), one copy for every worker
and host instead of one per worker.

A build's vectors go into SHARDS sets, each under its own hash tag (`<prefix>:{chatvec:<build>:<n>}`),
so that Redis Cluster spreads them over its nodes; a search asks every shard in one pipeline and merges.
The element of a vector is its text row in the index files (vectors.npy), so a hit maps straight back.

Publishing is atomic as the index files are: a new build's sets are filled and marked complete, then
`switch` points `<prefix>:chatvec:current` at it and drops every build but it and the one before
(a worker still on the old files keeps searching the old build until it reloads). A search of a build
whose sets are gone or incomplete raises VectorIndexError: the caller searches its own copy instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import redis

from dialog.chat.artifacts import ArtifactError

SHARDS = 4
# Measured on the default index's 125k USE vectors, 200 neighbours asked as core chat does
# (bench/vector_index.py): search EF 200 gives recall@200 0.992 against exact search, p95 17.5 ms
# (EF 400: 0.996, 24.3 ms); insertion EF 100 builds in 119 s (200: 177 s) on 2 cores.
SEARCH_EF = 200
BUILD_EF = 100
BATCH = 500  # VADDs per pipeline round trip
KEEP = 2  # builds kept: the current one and the one before
Progress = Callable[[int, int], None]


class VectorIndexError(ArtifactError):
    """The shared vector set cannot serve this build (unreachable, unsupported, gone or incomplete)."""


class SharedVectors:
    def __init__(self, client: redis.Redis | redis.RedisCluster, prefix: str = "dialog",
                 shards: int = SHARDS) -> None:  # fmt: skip
        self.client = client
        self.prefix = prefix
        self.shards = shards
        self._complete: set[str] = set()  # builds seen complete by this process

    # ------------------------------------------------------------------ keys

    def _set_key(self, build_id: str, name: str, shard: int) -> str:
        return f"{self.prefix}:{{chatvec:{build_id}:{shard}}}:{name}"

    def _meta_key(self, build_id: str) -> str:
        return f"{self.prefix}:chatvec:build:{build_id}"

    @property
    def _current_key(self) -> str:
        return f"{self.prefix}:chatvec:current"

    @property
    def _builds_key(self) -> str:
        return f"{self.prefix}:chatvec:builds"  # sorted set: build id by publication time

    # ------------------------------------------------------------------ checks

    def support(self) -> str | None:
        """None when the server can hold vector sets, else one sentence saying why not."""
        try:
            info = self.client.execute_command("COMMAND", "INFO", "VADD", "VSIM")
        except redis.RedisError as error:
            return f"The Redis server for core chat's vector set cannot be reached ({type(error).__name__})."
        if not info or any(entry is None for entry in info):
            return "The configured Redis has no vector sets (VADD/VSIM need Redis 8 or later)."
        return None

    def current(self) -> str | None:
        """The build id the index switched to last, if any."""
        try:
            return cast(str | None, self.client.get(self._current_key))  # the client decodes responses
        except redis.RedisError as error:
            raise VectorIndexError(_unreachable(error)) from error

    def holds(self, build_id: str, name: str) -> bool:
        """The build's sets are complete in Redis (its record and every shard there)."""
        keys = [self._meta_key(build_id), *(self._set_key(build_id, name, n) for n in range(self.shards))]
        try:
            return self.client.exists(*keys) == len(keys)
        except redis.RedisError as error:
            raise VectorIndexError(_unreachable(error)) from error

    # ------------------------------------------------------------------ build

    def publish(
        self, build_id: str, name: str, vectors: np.ndarray, progress: Progress | None = None
    ) -> None:
        """Add every row of `vectors` (normalised) to the build's shards, one thread per shard, then
        mark the build complete. Nothing points at it until `switch`."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        total = len(vectors)
        progress = progress or (lambda n, total: None)

        def fill(shard: int) -> None:
            key = self._set_key(build_id, name, shard)
            rows = range(shard, total, self.shards)
            for start in range(0, len(rows), BATCH):
                pipe = self.client.pipeline(transaction=False)
                for row in rows[start : start + BATCH]:
                    pipe.execute_command("VADD", key, "FP32", vectors[row].tobytes(), str(row), "CAS",
                                         "EF", BUILD_EF)  # fmt: skip
                pipe.execute()
                progress(len(rows[start : start + BATCH]), total)

        try:
            self.client.zadd(self._builds_key, {build_id: time.time()})
            with ThreadPoolExecutor(self.shards) as pool:
                list(pool.map(fill, range(self.shards)))
            meta = {"name": name, "count": total, "dim": int(vectors.shape[1]), "shards": self.shards}
            self.client.set(self._meta_key(build_id), json.dumps(meta))
        except redis.RedisError as error:
            raise VectorIndexError(f"Publishing core chat's vector set failed: {error}") from error

    def switch(self, build_id: str) -> None:
        """Make `build_id` current and drop all builds older than the one before it."""
        try:
            self.client.set(self._current_key, build_id)
            self.client.zadd(self._builds_key, {build_id: time.time()})
            old = cast(list[str], self.client.zrange(self._builds_key, 0, -KEEP - 1))  # decoded
            for stale in old:
                self.drop(stale)
        except redis.RedisError as error:
            raise VectorIndexError(_unreachable(error)) from error

    def drop(self, build_id: str) -> None:
        """Delete one build's sets and its record."""
        for key in self.client.scan_iter(match=f"{self.prefix}:{{chatvec:{build_id}:*", count=1000):
            self.client.delete(key)
        self.client.delete(self._meta_key(build_id))
        self.client.zrem(self._builds_key, build_id)

    # ------------------------------------------------------------------ search

    def search(self, build_id: str, name: str, vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The text rows of the k vectors nearest to `vec` over all shards, best first, and their cosines."""
        try:
            if build_id not in self._complete:
                if not self.holds(build_id, name):
                    raise VectorIndexError(
                        f"The shared vector set of this index (build {build_id[:8]}) is missing or"
                        " incomplete in Redis; rebuild the index (`dialog index build`)."
                    )
                self._complete.add(build_id)
            blob = np.ascontiguousarray(vec, dtype=np.float32).tobytes()
            pipe = self.client.pipeline(transaction=False)
            for shard in range(self.shards):
                pipe.execute_command("VSIM", self._set_key(build_id, name, shard), "FP32", blob, "WITHSCORES",
                                     "COUNT", k, "EF", max(SEARCH_EF, k))  # fmt: skip
            replies = pipe.execute()
        except redis.RedisError as error:
            raise VectorIndexError(_unreachable(error)) from error
        rows: list[int] = []
        similarity: list[float] = []
        for reply in replies:
            items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
            for element, score in items:
                rows.append(int(element))
                similarity.append(float(score))
        if not rows:
            self._complete.discard(build_id)
            raise VectorIndexError(
                f"The shared vector set of this index (build {build_id[:8]}) is empty or gone from Redis."
            )
        order = np.argsort(-np.asarray(similarity), kind="stable")[:k]
        # VSIM's score is (1 + cosine) / 2
        return np.asarray(rows, dtype=np.int64)[order], 2.0 * np.asarray(similarity)[order] - 1.0


def _unreachable(error: redis.RedisError) -> str:
    return f"Core chat's shared vector set is unreachable ({type(error).__name__}: {error})."
