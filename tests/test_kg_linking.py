"""Entity linking over the imported world graph (real FalkorDB): both languages, longest match,
disambiguation by type, popularity and dialogue context, and a linker that follows imports."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog_core.settings import Settings
from dialog_core.state import DialogueState, EntityRef
from dialog_core.turn import Turn
from knowledge.graph import FalkorDBStore
from knowledge.importers import read_triples, write
from knowledge.linking import EntityLinker


@pytest.fixture(scope="module")
def linker(world_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> EntityLinker:
    services = Services.connect(world_settings)
    return EntityLinker(services.graph, cache_dir=world_settings.home / "knowledge")  # shared with KBQA tests


def linked(
    linker: EntityLinker, text: str, context: list[tuple[str, str]] = ()
) -> list[tuple[str, str, str]]:
    return [(m.text, m.best.node.type, m.best.node.name) for m in linker.link(text, context)]


def test_names_and_aliases_in_both_languages(linker: EntityLinker) -> None:
    assert linked(linker, "What is the capital of Kenya?") == [("Kenya", "Country", "Kenya")]
    assert linked(linker, "肯尼亚的首都是哪里？") == [("肯尼亚", "Country", "Kenya")]
    assert linked(linker, "內羅比在哪個國家") == [("內羅比", "City", "Nairobi")]  # traditional characters
    assert linked(linker, "哪些国家说英语") == [("英语", "Language", "English")]
    assert linked(linker, "what is the population of bogota") == [("bogota", "City", "Bogotá")]
    assert linked(linker, "Which countries use the Euro and the 欧元?") == [
        ("Euro", "Currency", "Euro"),
        ("欧元", "Currency", "Euro"),
    ]


def test_longest_match_wins(linker: EntityLinker) -> None:
    assert linked(linker, "I flew to New York City") == [("New York City", "City", "New York City")]
    assert linked(linker, "Guinea-Bissau and Papua New Guinea") == [
        ("Guinea-Bissau", "Country", "Guinea-Bissau"),
        ("Papua New Guinea", "Country", "Papua New Guinea"),
    ]


def test_abbreviations_match_only_as_written(linker: EntityLinker) -> None:
    assert linked(linker, "What is the capital of the UK?") == [("UK", "Country", "United Kingdom")]
    assert linked(linker, "tell us about it") == []


def test_disambiguation_by_type_popularity_and_context(linker: EntityLinker) -> None:
    assert linked(linker, "Georgia") == [("Georgia", "Country", "Georgia")]  # a country before a US state
    paris = linker.link("I love Paris")[0]
    assert paris.best.node.id == "2988507" and len(paris.candidates) > 1  # the French capital, not Texas
    texas = linker.link("Paris, Texas")[0]
    assert texas.best.node.id == "4717560"  # the message says Texas
    recent = [("State", "US-TX")]
    assert linker.link("What is the population of Paris?", recent)[0].best.node.id == "4717560"


def test_everyday_words_are_not_places(linker: EntityLinker) -> None:
    assert linked(linker, "Nice to meet you") == []
    assert linked(linker, "I'm reading a book and it is nice") == []
    assert linked(linker, "What is the population of Nice?") == [("Nice", "City", "Nice")]


def test_the_stage_fills_the_turn_from_the_rewritten_text(linker: EntityLinker) -> None:
    state = DialogueState.new("u", time.time())
    state.remember_entities([EntityRef(id="US-TX", name="Texas", type="State")])
    turn = Turn("u", "cli", "And Paris?", state, time.time())
    turn.nlu.rewritten = "And what is the population of Paris?"
    linker(turn)
    [entity] = turn.nlu.entities
    assert (entity.id, entity.type, entity.mention) == ("4717560", "City", "Paris") and 0 < entity.score <= 1


def test_the_linker_follows_imports_and_caches_its_index(home: Path, tmp_path: Path) -> None:
    server = EmbeddedServer(home)
    server.ensure_running()
    store = FalkorDBStore.connect(server.url, f"link-{uuid.uuid4().hex[:8]}")
    try:
        triples = tmp_path / "t.csv"
        triples.write_text(
            "subject,predicate,object,subject_aliases\nZorblax,kind,widget,佐布拉\n", encoding="utf-8"
        )
        write(store, read_triples([triples]), strict=True)
        linker = EntityLinker(store, cache_dir=tmp_path / "cache", refresh_s=0)
        assert linked(linker, "tell me about 佐布拉") == [("佐布拉", "Thing", "Zorblax")]
        assert list((tmp_path / "cache").glob("aliases-*.pickle"))
        triples.write_text("subject,predicate,object\nQuuxington,kind,gadget\n", encoding="utf-8")
        write(store, read_triples([triples]), strict=True)  # bumps the graph revision
        assert linked(linker, "and Quuxington?") == [("Quuxington", "Thing", "Quuxington")]
        again = EntityLinker(store, cache_dir=tmp_path / "cache")
        assert linked(again, "Quuxington") == [("Quuxington", "Thing", "Quuxington")]
    finally:
        store.query("MATCH (n) DETACH DELETE n")
        store.close()
