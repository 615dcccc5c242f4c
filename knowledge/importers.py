"""An operator's own graph: triples (CSV or JSONL) and node + relationship CSV files.

Triples: `subject, predicate, object` and optionally `subject_label`, `object_label`,
`subject_aliases`, `object_aliases` (aliases separated by `|` in CSV, a list in JSONL). A row with an
`object_label` is a relationship between two entities; without one, the object is a value of the
subject (a property; numbers stay numbers). The predicate `alias` adds an alias.

Node CSV: `id, label` and optionally `name, name_zh, aliases`; other columns are properties.
Relationship CSV: `start, type, end` and optionally `start_label, end_label`; other columns are
properties of the relationship; both ends must exist (in the graph or in the same import).

Every file is read and checked first. A bad row is reported with its file and line and skipped, or,
with `strict`, the whole import is refused and nothing is written.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialog_core.errors import InvalidInput
from dialog_core.services import GraphStore
from knowledge.graph import InvalidName, identifier
from knowledge.writer import ENTITY, GraphWriter, Progress

RESERVED = {"id", "source"}
TRIPLE_COLUMNS = ("subject", "predicate", "object")
NODE_COLUMNS = ("id", "label")
RELATIONSHIP_COLUMNS = ("start", "type", "end")
OPTIONAL_NODE_COLUMNS = {"name", "name_zh", "aliases"}
OPTIONAL_RELATIONSHIP_COLUMNS = {"start_label", "end_label"}


class ImportRefused(InvalidInput):
    """`--strict` and at least one bad row: nothing was imported."""


class BadRow(InvalidInput):
    """What is wrong with one row (reported with its file and line)."""


@dataclass(frozen=True)
class RowIssue:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Batch:
    """Everything a set of files says, checked, ready to write."""

    nodes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (label, id) -> row
    edges: dict[tuple[str, str, str], list[dict[str, Any]]] = field(
        default_factory=dict
    )  # (type, s, o labels)
    edge_lines: list[tuple[RowIssue, dict[str, Any]]] = field(default_factory=list)  # for the end check
    issues: list[RowIssue] = field(default_factory=list)

    def node(self, label: str, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(
            (label, node_id), {"id": node_id, "props": {"name": node_id}, "aliases": []}
        )


@dataclass(frozen=True)
class ImportResult:
    nodes: int
    relationships: int
    issues: list[RowIssue]

    def line(self) -> str:
        skipped = f", {len(self.issues)} bad rows skipped" if self.issues else ""
        return f"imported {self.nodes:,} nodes and {self.relationships:,} relationships{skipped}"


# ------------------------------------------------------------------ reading


def _value(text: str) -> Any:
    """CSV cells: integers and decimals as numbers, the rest as text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _aliases(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else str(value).split("|")
    return [str(item).strip() for item in items if str(item).strip()]


def _label(value: Any, default: str) -> str:
    label = str(value).strip() if value not in (None, "") else default
    identifier(label)  # raises InvalidName with the reason
    return label


def _relationship_type(predicate: str) -> str:
    return identifier(re.sub(r"[^0-9A-Za-z]+", "_", predicate).strip("_").upper()).strip("`")


def _property_key(predicate: str) -> str:
    key = re.sub(r"[^0-9A-Za-z]+", "_", predicate).strip("_").lower()
    identifier(key)
    if key in RESERVED:
        raise BadRow(f"'{key}' is kept for the importer and cannot be set.")
    return key


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for a CSV file with a header or a JSONL file; for an unreadable JSONL line
    the row is what is wrong with it."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror or error}.") from error
    with handle:
        try:
            if path.suffix.lower() in (".jsonl", ".ndjson"):
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield number, _json_row(line, number)
                return
            if path.suffix.lower() != ".csv":
                raise InvalidInput(f"{path} is neither .csv nor .jsonl.")
            reader = csv.DictReader(handle)
            missing = [column for column in required if column not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInput(f"{path} has no column {', '.join(missing)} in its header line.")
            for row in reader:
                yield reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{path} is not UTF-8 text.") from error


def _json_row(line: str, number: int) -> dict[str, Any] | str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg})"
    return row if isinstance(row, dict) else "not a JSON object"


def _checked_rows(
    path: Path, required: tuple[str, ...], batch: Batch
) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, row in _rows(path, required):
        if isinstance(row, str):
            batch.issues.append(RowIssue(path, line, row))
            continue
        missing = [column for column in required if row.get(column) in (None, "")]
        if missing:
            batch.issues.append(RowIssue(path, line, f"no {', '.join(missing)}"))
            continue
        yield line, row


def read_triples(paths: list[Path], default_label: str = "Thing", batch: Batch | None = None) -> Batch:
    batch = batch or Batch()
    for path in paths:
        for line, row in _checked_rows(path, TRIPLE_COLUMNS, batch):
            try:
                _add_triple(batch, row, default_label, path, line)
            except (InvalidName, BadRow) as error:
                batch.issues.append(RowIssue(path, line, str(error).rstrip(".")))
    return batch


def _add_triple(batch: Batch, row: dict[str, Any], default_label: str, path: Path, line: int) -> None:
    subject, predicate, value = str(row["subject"]).strip(), str(row["predicate"]).strip(), row["object"]
    subject_label = _label(row.get("subject_label"), default_label)
    object_label = row.get("object_label")
    if object_label not in (None, ""):
        object_label = _label(object_label, default_label)
        rel_type = _relationship_type(predicate)
        if isinstance(value, dict | list):
            raise BadRow("the object of a relationship must be a name")
        node = batch.node(subject_label, subject)
        node["aliases"] += _aliases(row.get("subject_aliases"))
        other = batch.node(object_label, str(value).strip())
        other["aliases"] += _aliases(row.get("object_aliases"))
        batch.edges.setdefault((rel_type, subject_label, object_label), []).append(
            {"s": subject, "o": str(value).strip()}
        )
        return
    if predicate.lower() in ("alias", "aliases"):
        key = None
    else:
        key = _property_key(predicate)
        if isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
        ):
            raise BadRow("a property value must be text, a number, true/false or a list of them")
    node = batch.node(subject_label, subject)
    node["aliases"] += _aliases(row.get("subject_aliases"))
    if key is None:
        node["aliases"] += _aliases(value)
    else:
        node["props"][key] = _value(value) if isinstance(value, str) else value


def read_csv(nodes: list[Path], relationships: list[Path], batch: Batch | None = None) -> Batch:
    batch = batch or Batch()
    for path in nodes:
        for line, row in _checked_rows(path, NODE_COLUMNS, batch):
            try:
                label = _label(row["label"], ENTITY)
                node = batch.node(label, str(row["id"]))
                node["props"]["name"] = row.get("name") or str(row["id"])
                if row.get("name_zh"):
                    node["props"]["name_zh"] = row["name_zh"]
                node["aliases"] += _aliases(row.get("aliases"))
                for column, cell in row.items():
                    if column not in (*NODE_COLUMNS, *OPTIONAL_NODE_COLUMNS) and cell not in (None, ""):
                        node["props"][_property_key(column)] = _value(cell) if isinstance(cell, str) else cell
            except (InvalidName, BadRow) as error:
                batch.issues.append(RowIssue(path, line, str(error).rstrip(".")))
    for path in relationships:
        for line, row in _checked_rows(path, RELATIONSHIP_COLUMNS, batch):
            try:
                key = (
                    _relationship_type(str(row["type"])),
                    _label(row.get("start_label"), ENTITY),
                    _label(row.get("end_label"), ENTITY),
                )
                props = {
                    _property_key(column): _value(cell) if isinstance(cell, str) else cell
                    for column, cell in row.items()
                    if column not in (*RELATIONSHIP_COLUMNS, *OPTIONAL_RELATIONSHIP_COLUMNS)
                    and cell not in (None, "")
                }
            except (InvalidName, BadRow) as error:
                batch.issues.append(RowIssue(path, line, str(error).rstrip(".")))
                continue
            edge = {"s": str(row["start"]), "o": str(row["end"]), "props": props, "key": key}
            batch.edge_lines.append((RowIssue(path, line, ""), edge))
    return batch


# ------------------------------------------------------------------ writing


def _check_ends(batch: Batch, writer: GraphWriter) -> None:
    """Relationship rows whose ends exist neither in the graph nor in this import are bad rows."""
    if not batch.edge_lines:
        return
    imported = {node_id for _, node_id in batch.nodes}
    wanted = sorted({end for _, edge in batch.edge_lines for end in (edge["s"], edge["o"])} - imported)
    known = imported | writer.existing_ids(wanted)
    for where, edge in batch.edge_lines:
        missing = [end for end in (edge["s"], edge["o"]) if end not in known]
        if missing:
            batch.issues.append(RowIssue(where.file, where.line, f"no node with id '{missing[0]}'"))
        else:
            batch.edges.setdefault(edge["key"], []).append(
                {"s": edge["s"], "o": edge["o"], "props": edge["props"]}
            )


def write(store: GraphStore, batch: Batch, strict: bool, progress: Progress | None = None) -> ImportResult:
    writer = GraphWriter(store, progress)
    _check_ends(batch, writer)
    if strict and batch.issues:
        first = batch.issues[0]
        raise ImportRefused(
            f"{len(batch.issues)} bad rows (first: {first}); with --strict nothing was imported."
        )
    labels = sorted({label for label, _ in batch.nodes})
    writer.prepare(labels)
    nodes = 0
    for label in labels:
        rows = [
            {"id": row["id"], "props": row["props"], "aliases": list(dict.fromkeys(row["aliases"]))}
            for (node_label, _), row in batch.nodes.items()
            if node_label == label
        ]
        nodes += writer.update_nodes(label, rows)
    relationships = 0
    for (rel_type, source, target), rows in batch.edges.items():
        relationships += writer.merge_edges(rel_type, rows, source, target)
    writer.bump_revision()
    return ImportResult(nodes, relationships, sorted(batch.issues, key=lambda i: (str(i.file), i.line)))
