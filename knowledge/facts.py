"""Core chat's knowledge candidates: short fact sentences about the entities linked in a turn, in
the user's language (which facts per type: the `facts` section of the lexicon)."""

from __future__ import annotations

from dialog_core.turn import Turn
from knowledge import paths
from knowledge.base import KnowledgeBase
from knowledge.linking import Node
from knowledge.questions import Plan, Step

MIN_SCORE = 0.5  # weaker links ("Nice to meet you") give no facts


class GraphFacts:
    def __init__(self, base: KnowledgeBase) -> None:
        self.base = base

    def facts(self, turn: Turn, limit: int) -> list[str]:
        index = self.base.tools().index
        found: list[str] = []
        for entity in turn.nlu.entities:
            position = index.by_key.get((entity.type, entity.id))
            if position is None or entity.score < MIN_SCORE:
                continue
            found += self.about(index.nodes[position], turn.nlu.language, limit - len(found))
            if len(found) >= limit:
                break
        return found[:limit]

    def about(self, node: Node, language: str, limit: int) -> list[str]:
        tools = self.base.tools()
        lexicon, verbaliser = tools.lexicon, tools.verbaliser
        sentences: list[str] = []
        for key in lexicon.facts.get(node.type, []):
            if len(sentences) >= limit:
                break
            plan = self._plan(node.type, key)
            if plan is None:
                continue
            found = paths.follow(self.base.store, plan, node.id)
            if plan.attribute is not None:
                if found and verbaliser.value(plan.attribute, node.type, found[0][-1], language) is not None:
                    sentences.append(
                        verbaliser.attribute_fact(plan.attribute, node.type, found[0][-1], language)
                    )
            elif found:
                sentences += verbaliser.path_facts(plan, found, language)[:1]
        return sentences[:limit]

    def _plan(self, label: str, key: str) -> Plan | None:
        lexicon = self.base.tools().lexicon
        inverse = key.startswith("~")
        relation = lexicon.relations.get(key.lstrip("~"))
        if relation is not None:
            if inverse and relation.ends_at(label) and relation.sources:
                return Plan(label, [Step(relation, False, relation.sources[0])])
            if not inverse and relation.starts_at(label) and relation.targets:
                return Plan(label, [Step(relation, True, relation.targets[0])])
            return None
        attribute = lexicon.attributes.get(key)
        if attribute is not None and label in attribute.properties:
            return Plan(label, [], attribute)
        return None
