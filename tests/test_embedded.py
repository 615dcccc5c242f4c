"""The embedded Redis+FalkorDB server: start, reuse, crash recovery, clean stop."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import redis

from dialog.runtime.embedded import MAX_SOCKET_PATH, EmbeddedServer, is_redis_process
from tests.conftest import run_dialog


def test_start_serves_redis_and_the_graph_module_on_a_unix_socket(own_home: Path) -> None:
    status = EmbeddedServer(own_home).ensure_running()
    assert status.running and status.graph_module
    assert status.socket.is_socket()
    client = redis.Redis(unix_socket_path=str(status.socket), decode_responses=True)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("port") == {"port": "0"}  # no TCP listener
    assert client.execute_command("GRAPH.QUERY", "g", "RETURN 1 + 1")[1] == [[2]]


def test_a_second_process_reuses_the_running_server(own_home: Path) -> None:
    first = EmbeddedServer(own_home).ensure_running()
    second = EmbeddedServer(own_home).ensure_running()
    assert second.pid == first.pid


def _start(home: str) -> int | None:
    return EmbeddedServer(Path(home)).ensure_running().pid


def test_processes_racing_to_start_end_up_with_one_server(own_home: Path) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        pids = set(pool.map(_start, [str(own_home)] * 4))
    assert len(pids) == 1


def test_a_stale_pid_file_after_a_crash_is_recovered_and_data_survives(own_home: Path) -> None:
    server = EmbeddedServer(own_home)
    status = server.ensure_running()
    client = redis.Redis(unix_socket_path=str(status.socket), decode_responses=True)
    client.set("kept", "yes")
    client.execute_command("CONFIG", "SET", "appendfsync", "always")  # make the write durable now
    client.set("kept-too", "yes")
    os.kill(status.pid, signal.SIGKILL)
    while server.status().running:
        time.sleep(0.01)
    assert server.pid_file.exists()
    assert server.status().stale_pid_file

    recovered = server.ensure_running()
    assert recovered.running and recovered.pid != status.pid
    client = redis.Redis(unix_socket_path=str(recovered.socket), decode_responses=True)
    assert client.get("kept-too") == "yes"


def test_a_pid_file_naming_another_live_process_is_stale(own_home: Path) -> None:
    server = EmbeddedServer(own_home)
    server.dir.mkdir(parents=True)
    server.pid_file.write_text(str(os.getpid()))  # alive, but not a redis-server
    assert server.status().stale_pid_file
    assert server.ensure_running().pid != os.getpid()


def test_stop_is_clean_and_idempotent(own_home: Path) -> None:
    server = EmbeddedServer(own_home)
    pid = server.ensure_running().pid
    assert server.stop() is True
    assert not server.status().running
    assert not server.pid_file.exists()
    assert not is_redis_process(pid)
    assert server.stop() is False


def test_a_deep_data_dir_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedServer(deep)
    try:
        assert len(os.fsencode(server.socket)) <= MAX_SOCKET_PATH
        assert server.ensure_running().running
    finally:
        server.stop()


def test_cli_server_start_status_stop(own_home: Path) -> None:
    env = {"DIALOG_HOME": str(own_home)}
    assert "not running" in run_dialog("server", "status", env=env).stdout
    started = run_dialog("server", "start", env=env)
    assert started.returncode == 0 and "running: pid" in started.stdout
    status = run_dialog("server", "status", env=env)
    assert status.returncode == 0 and "graph module loaded" in status.stdout
    assert run_dialog("server", "stop", env=env).stdout.strip() == "stopped"
    assert run_dialog("server", "status", env=env).returncode == 3
