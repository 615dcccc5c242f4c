"""Plans as Cypher: one MATCH along the relation path, values as parameters, labels and types
checked identifiers. The same statements run on FalkorDB and Neo4j."""

from __future__ import annotations

from typing import Any

from dialog_core.services import GraphStore
from knowledge.graph import identifier
from knowledge.questions import Plan

NAME_FIELDS = (".id", ".name", ".name_zh")
MAX_PATHS = 300


def _node(index: int, label: str | None, anchored: bool) -> str:
    typed = f":{identifier(label)}" if label else ""
    return f"(n{index}{typed} {{id: $id}})" if anchored else f"(n{index}{typed})"


def pattern(plan: Plan) -> str:
    """`(n0:Start {id: $id})-[:R]->(n1:Next)...`; a plan without a start matches every end node."""
    if plan.start is None:
        return _node(0, plan.end, anchored=False)
    parts = [_node(0, plan.start, anchored=True)]
    for index, step in enumerate(plan.steps, start=1):
        relation = f"[:{identifier(step.relation.type)}]"
        if step.relation.symmetric:
            arrow = f"-{relation}-"
        else:
            arrow = f"-{relation}->" if step.forward else f"<-{relation}-"
        parts.append(arrow + _node(index, step.target or None, anchored=False))
    return "".join(parts)


def _projection(index: int, properties: list[str]) -> str:
    fields = [*NAME_FIELDS, *(f".{identifier(p)}" for p in properties)]
    return f"n{index} {{{', '.join(fields)}}} AS n{index}"


def _last(plan: Plan) -> int:
    return len(plan.steps) if plan.start is not None else 0


def attribute_properties(plan: Plan) -> list[str]:
    if plan.attribute is None:
        return []
    return plan.attribute.properties.get(plan.end, [])


def follow(store: GraphStore, plan: Plan, subject_id: str | None) -> list[list[dict[str, Any]]]:
    """The paths of the plan from the subject: each a list of node maps, start first; the end nodes
    carry the attribute's properties. The most populous ends first."""
    last = _last(plan)
    projections = [_projection(i, attribute_properties(plan) if i == last else []) for i in range(last + 1)]
    names = ", ".join(f"n{i}" for i in range(last + 1))
    rows = store.query(
        f"MATCH {pattern(plan)} WITH {names} ORDER BY coalesce(n{last}.population, 0) DESC "
        f"LIMIT {MAX_PATHS} RETURN {', '.join(projections)}",
        {"id": subject_id},
    )
    return [[row[f"n{i}"] for i in range(last + 1)] for row in rows]


def count(store: GraphStore, plan: Plan, subject_id: str | None) -> int:
    rows = store.query(
        f"MATCH {pattern(plan)} RETURN count(DISTINCT n{_last(plan)}) AS n", {"id": subject_id}
    )
    return int(rows[0]["n"]) if rows else 0


def extreme(
    store: GraphStore, plan: Plan, subject_id: str | None, order: str
) -> tuple[dict[str, Any] | None, int]:
    """The end node with the largest (order 'max') or smallest value of the plan's (numeric)
    attribute, and how many end nodes have a value."""
    last, prop = _last(plan), identifier(attribute_properties(plan)[0])
    direction = "DESC" if order == "max" else "ASC"
    base = f"MATCH {pattern(plan)} WITH DISTINCT n{last} WHERE n{last}.{prop} IS NOT NULL"
    top = store.query(
        f"{base} RETURN {_projection(last, attribute_properties(plan))}, n{last}.{prop} AS value "
        f"ORDER BY value {direction} LIMIT 1",
        {"id": subject_id},
    )
    total = store.query(f"{base} RETURN count(n{last}) AS n", {"id": subject_id})
    return (top[0][f"n{last}"] if top else None), (int(total[0]["n"]) if total else 0)


def node(store: GraphStore, label: str, node_id: str, properties: list[str]) -> dict[str, Any] | None:
    fields = ", ".join([*NAME_FIELDS, *(f".{identifier(p)}" for p in properties)])
    rows = store.query(
        f"MATCH (n:{identifier(label)} {{id: $id}}) RETURN n {{{fields}}} AS n", {"id": node_id}
    )
    return rows[0]["n"] if rows else None
