"""`dialog kg stats`: what the graph holds."""

from __future__ import annotations

from typing import Any

from dialog_core.services import GraphStore
from knowledge.writer import ENTITY, META, read_meta


def graph_stats(store: GraphStore) -> dict[str, Any]:
    nodes: dict[str, int] = {}
    for row in store.query("MATCH (n) RETURN labels(n) AS labels, count(n) AS n"):
        labels = [label for label in row["labels"] if label not in (ENTITY, META)]
        if labels or ENTITY in row["labels"]:
            key = ":".join(labels) or ENTITY
            nodes[key] = nodes.get(key, 0) + int(row["n"])
    rows = store.query("MATCH ()-[r]->() RETURN type(r) AS type, count(r) AS n")
    relationships = {row["type"]: int(row["n"]) for row in rows}
    world = read_meta(store, "world")
    return {
        "nodes": dict(sorted(nodes.items())),
        "relationships": dict(sorted(relationships.items())),
        "world": world.get("version"),
        "revision": read_meta(store, "graph").get("revision", 0),
    }
