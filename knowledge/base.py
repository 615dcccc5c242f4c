"""What KBQA and the fact source share: the store, the entity linker and the lexicon, the latter
extended by what the graph itself holds (refreshed when an import changes the graph)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from dialog_core.services import GraphStore
from knowledge.graph import identifier
from knowledge.lexicon import Lexicon
from knowledge.linking import AliasIndex, EntityLinker
from knowledge.questions import QuestionParser
from knowledge.verbalise import Verbaliser
from knowledge.writer import ENTITY

SAMPLED_NODES = 200  # nodes per label whose property names are read


@dataclass
class Tools:
    lexicon: Lexicon
    parser: QuestionParser
    verbaliser: Verbaliser
    index: AliasIndex


class KnowledgeBase:
    def __init__(self, store: GraphStore, linker: EntityLinker, lexicon: Lexicon) -> None:
        self.store = store
        self.linker = linker
        self.base_lexicon = lexicon
        self._tools: Tools | None = None
        self._lock = threading.Lock()

    def tools(self) -> Tools:
        index = self.linker.index()
        tools = self._tools
        if tools is not None and tools.index is index:
            return tools
        with self._lock:
            if self._tools is None or self._tools.index is not index:
                lexicon = self.base_lexicon.with_schema(*self._schema(index))
                self._tools = Tools(lexicon, QuestionParser(lexicon), Verbaliser(lexicon), index)
            return self._tools

    def _schema(self, index: AliasIndex) -> tuple[list[tuple[str, str, str]], dict[str, set[str]]]:
        """Relationship types with the labels they connect, and property names by label."""
        rows = self.store.query(
            f"MATCH (a:{ENTITY})-[r]->(b:{ENTITY}) "
            "RETURN DISTINCT type(r) AS type, labels(a) AS a, labels(b) AS b"
        )
        relations = [
            (row["type"], _label(row["a"]), _label(row["b"]))
            for row in rows
            if _label(row["a"]) and _label(row["b"])
        ]
        properties: dict[str, set[str]] = {}
        for label in sorted({node.type for node in index.nodes} - {ENTITY}):
            keys = self.store.query(
                f"MATCH (n:{identifier(label)}) WITH n LIMIT {SAMPLED_NODES} UNWIND keys(n) AS key "
                "RETURN DISTINCT key"
            )
            properties[label] = {row["key"] for row in keys}
        return relations, properties


def _label(labels: list[str]) -> str:
    return next((label for label in labels if label != ENTITY), "")
