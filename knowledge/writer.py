"""Batched, idempotent writes: UNWIND ... MERGE, sized for the store (see `graph.batches`).

Every node gets the label `Entity` beside its own (one index on `Entity.id` finds any node, which the
relationship importer and the linker need); `_Meta` nodes hold the import bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from dialog_core.services import GraphStore
from knowledge.graph import batches, identifier

ENTITY = "Entity"
META = "_Meta"
DELETE_BATCH = 5000


class Progress(Protocol):
    """What a writer reports: a named task with a total, then how far it got."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...


class NoProgress:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


_MERGE_ALIASES = (
    "n.aliases = reduce(acc = coalesce(n.aliases, []), a IN r.aliases | "
    "CASE WHEN a IN acc THEN acc ELSE acc + a END)"
)


class GraphWriter:
    def __init__(self, store: GraphStore, progress: Progress | None = None) -> None:
        self.store = store
        self.progress = progress or NoProgress()

    def prepare(self, labels: Sequence[str]) -> None:
        """Indexes on `id` (and `name`) of every label written: created once, skipped after."""
        self.store.ensure_index(ENTITY, "id")
        self.store.ensure_index(META, "id")
        for label in labels:
            self.store.ensure_index(label, "id")
            self.store.ensure_index(label, "name")

    def _write(self, description: str, cypher: str, rows: Sequence[Any]) -> int:
        self.progress.start(description, len(rows))
        written = 0
        for batch in batches(rows, self.store.batch_rows, self.store.batch_bytes):
            result = self.store.query(cypher, {"rows": batch})
            written += int(result[0]["written"]) if result else 0
            self.progress.advance(len(batch))
        return written

    def replace_nodes(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """MERGE each node by id and set exactly the given properties (rows hold `id`)."""
        cypher = (
            f"UNWIND $rows AS r MERGE (n:{identifier(ENTITY)}:{identifier(label)} {{id: r.id}}) "
            "SET n = r RETURN count(n) AS written"
        )
        return self._write(f"{label} nodes", cypher, rows)

    def update_nodes(self, label: str, rows: Sequence[dict[str, Any]]) -> int:
        """MERGE each node by id, add `props` to its properties and `aliases` to its aliases.

        Rows: {"id", "props": {...}, "aliases": [...]}.
        """
        cypher = (
            f"UNWIND $rows AS r MERGE (n:{identifier(ENTITY)}:{identifier(label)} {{id: r.id}}) "
            f"SET n += r.props, {_MERGE_ALIASES} RETURN count(n) AS written"
        )
        return self._write(f"{label} nodes", cypher, rows)

    def merge_edges(
        self, rel_type: str, rows: Sequence[dict[str, Any]], source: str = ENTITY, target: str = ENTITY
    ) -> int:
        """MERGE one relationship per row {"s": start id, "o": end id, "props"?: {...}}; rows whose
        ends do not exist write nothing (the count returned says how many did)."""
        cypher = (
            f"UNWIND $rows AS r MATCH (a:{identifier(source)} {{id: r.s}}) "
            f"MATCH (b:{identifier(target)} {{id: r.o}}) "
            f"MERGE (a)-[e:{identifier(rel_type)}]->(b) SET e += coalesce(r.props, {{}}) "
            "RETURN count(e) AS written"
        )
        return self._write(f"{rel_type} ({source} -> {target})", cypher, rows)

    def delete_source(self, source: str) -> int:
        """Delete the nodes an import tagged with `source` (and their relationships), in batches."""
        deleted = 0
        while True:
            rows = self.store.query(
                f"MATCH (n:{identifier(ENTITY)}) WHERE n.source = $source WITH n LIMIT {DELETE_BATCH} "
                "DETACH DELETE n RETURN count(n) AS deleted",
                {"source": source},
            )
            count = int(rows[0]["deleted"]) if rows else 0
            deleted += count
            if count < DELETE_BATCH:
                return deleted

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        cypher = f"UNWIND $rows AS id MATCH (n:{identifier(ENTITY)} {{id: id}}) RETURN DISTINCT n.id AS id"
        found: set[str] = set()
        for batch in batches(ids, self.store.batch_rows, self.store.batch_bytes):
            found.update(row["id"] for row in self.store.query(cypher, {"rows": batch}))
        return found

    def set_meta(self, meta_id: str, props: dict[str, Any]) -> None:
        self.store.query(
            f"MERGE (m:{identifier(META)} {{id: $id}}) SET m += $props", {"id": meta_id, "props": props}
        )

    def bump_revision(self) -> None:
        """Every import bumps the graph's revision: running agents see it and reload their linker."""
        self.store.query(
            f"MERGE (m:{identifier(META)} {{id: 'graph'}}) "
            "SET m.revision = coalesce(m.revision, 0) + 1, m.updated_at = $now",
            {"now": time.time()},
        )


def read_meta(store: GraphStore, meta_id: str) -> dict[str, Any]:
    rows = store.query(f"MATCH (m:{identifier(META)} {{id: $id}}) RETURN m AS m", {"id": meta_id})
    return dict(rows[0]["m"]) if rows else {}
