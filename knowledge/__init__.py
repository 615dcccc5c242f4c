"""Knowledge: graph store backends, importers, entity linking, KBQA and verbalisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from knowledge.kbqa import KbqaHandler

if TYPE_CHECKING:
    from dialog_core.component import Progress
    from dialog_core.services import Services
    from dialog_core.settings import Settings
    from dialog_core.turn import FactSource, UnderstandingStage


@dataclass
class Knowledge:
    """What the knowledge package contributes to an agent."""

    kbqa: KbqaHandler
    stages: list[UnderstandingStage] = field(default_factory=list)  # e.g. the entity linker
    facts: FactSource | None = None


class WorldGraphStep:
    """`dialog setup`: import the world graph when it is missing or from other package versions."""

    name = "knowledge graph (world)"

    def ready(self, settings: Settings, services: Services) -> bool:
        from knowledge.world import world_is_current

        return world_is_current(services.graph)

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        from knowledge.linking import EntityLinker
        from knowledge.world import import_world

        summary = import_world(services.graph)
        services.compact()
        EntityLinker(services.graph, cache_dir=settings.home / "knowledge").index()  # first chat: no wait
        return summary.line()


class LazyGraph:
    """The services' graph store, connected when a turn first needs it: an unreachable graph (or a
    Redis Cluster, which has none) costs knowledge answers, not the agent's start."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services.graph, name)


def build_knowledge(settings: Settings, services: Services) -> Knowledge:
    """The linker stage, KBQA and the fact source over the configured graph. Nothing is read from
    the graph until the first turn needs it (an empty or unreachable graph links nothing)."""
    from knowledge.base import KnowledgeBase
    from knowledge.facts import GraphFacts
    from knowledge.kbqa import GraphAnswerer, GraphQuestionStage
    from knowledge.lexicon import Lexicon
    from knowledge.linking import EntityLinker

    graph = LazyGraph(services)
    linker = EntityLinker(graph, cache_dir=settings.home / "knowledge")
    base = KnowledgeBase(graph, linker, Lexicon.load(settings.kg_relations_file))
    facts = GraphFacts(base)
    answerer = GraphAnswerer(base, facts)
    return Knowledge(kbqa=KbqaHandler([answerer]), stages=[linker, GraphQuestionStage(answerer)], facts=facts)
