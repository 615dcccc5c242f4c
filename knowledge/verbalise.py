"""Answers in the user's language: fact sentences from the lexicon's templates, names in Chinese
where the graph has them, numbers with their exact digits."""

from __future__ import annotations

from typing import Any

from dialog_core.text import format_number, join_names
from knowledge.lexicon import AttributeSpec, Lexicon
from knowledge.questions import Plan, Step

MAX_GROUPS = 3  # fact sentences per step of a path


def name(node: dict[str, Any], language: str) -> str:
    return str((language == "zh" and node.get("name_zh")) or node.get("name") or node.get("id"))


class Verbaliser:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    # ------------------------------------------------------------------ values

    def value(self, spec: AttributeSpec, label: str, node: dict[str, Any], language: str) -> str | None:
        """The attribute of `node` as text, or None when the graph does not have it."""
        values = [node.get(prop) for prop in spec.properties.get(label, [])]
        if not values or all(v in (None, "", []) for v in values):
            return None
        first = values[0]
        if spec.format == "coordinates" and len(values) == 2:
            lat, lon = values
            if lat is not None and lon is not None:
                return self.lexicon.answer("coordinates", language, lat=float(lat), lon=float(lon))
        if spec.format in ("number", "area") and isinstance(first, int | float):
            unit = self.lexicon.answer("area_unit", language) if spec.format == "area" else ""
            return format_number(first, language, unit)
        items = [item for v in values if v not in (None, "") for item in (v if isinstance(v, list) else [v])]
        if spec.format == "calling":
            items = [f"+{item}" for item in items]
        return ("、" if language == "zh" else ", ").join(str(item) for item in items)

    def attribute_fact(self, spec: AttributeSpec, label: str, node: dict[str, Any], language: str) -> str:
        value = self.value(spec, label, node, language)
        if value is None:
            return self.unknown(spec.noun.get(language, spec.name), node, language)
        return spec.fact[language].format(s=name(node, language), v=value)

    def unknown(self, what: str, node: dict[str, Any] | None, language: str) -> str:
        subject = name(node, language) if node else self.lexicon.answer("unknown_subject", language)
        return self.lexicon.answer("unknown", language, what=what, s=subject)

    # ------------------------------------------------------------------ paths

    def path_facts(self, plan: Plan, paths: list[list[dict[str, Any]]], language: str) -> list[str]:
        """One or a few sentences per step of the paths found: "The capital of Kenya is Nairobi."""
        sentences: list[str] = []
        for index, step in enumerate(plan.steps, start=1):
            groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
            for path in paths:
                start, end = path[index - 1], path[index]
                group = groups.setdefault(str(start.get("id")), (start, []))
                if all(end.get("id") != seen.get("id") for seen in group[1]):
                    group[1].append(end)
            for start, ends in list(groups.values())[:MAX_GROUPS]:
                sentences.extend(self._step_facts(step, start, ends, language))
        return sentences

    def _step_facts(
        self, step: Step, start: dict[str, Any], ends: list[dict[str, Any]], language: str
    ) -> list[str]:
        relation = step.relation
        names = [name(end, language) for end in ends]
        if step.forward or relation.symmetric:
            return [relation.fact[language].format(s=name(start, language), o=join_names(names, language))]
        if len(ends) > 1 and relation.scope:
            noun = self.lexicon.type_noun(step.target, language, len(ends))
            scope = relation.scope[language].format(s=name(start, language))
            listed = join_names(names, language)
            return [
                self.lexicon.answer(
                    "listed", language, noun=noun, Noun=noun.capitalize(), scope=scope, listed=listed
                )
            ]
        return [relation.fact[language].format(s=end_name, o=name(start, language)) for end_name in names[:5]]

    def relation_noun(self, step: Step, language: str) -> str:
        if step.forward or step.relation.symmetric:
            return step.relation.noun.get(language) or step.relation.type.lower()
        return self.lexicon.type_noun(step.target, language, 1)
