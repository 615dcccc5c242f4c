"""Recovery: a lock left by a dead process or a crashed server expires promptly, `dialog serve`
restarts a crashed embedded server, and a single worker stops cleanly on SIGTERM. Real processes,
real kill -9s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer, is_redis_process
from dialog_core.settings import Settings
from skills.registry import SkillRegistry
from tests.conftest import ServeProcess

LEASE_S = 6.0  # the default lock lease


def hold_locks_then_die(home: Path, users: list[str]) -> None:
    """A process that takes users' locks the way a turn does, and is killed while it holds them."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from dialog.runtime.services import Services
        from dialog_core.settings import Settings
        from dialog.state.store import StateStore
        settings = Settings(home={str(home)!r})
        store = StateStore(Services.connect(settings).redis, settings)
        for user in {users!r}:
            store.locked(user).__enter__()
        print("held", flush=True)
        sys.stdin.read()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    process.kill()
    process.wait()


def kill_server(home: Path) -> None:
    pid = EmbeddedServer(home).pid()
    os.kill(pid, signal.SIGKILL)
    while is_redis_process(pid):
        time.sleep(0.01)


def test_locks_of_a_dead_process_expire_within_a_lease_even_across_a_server_crash(own_home: Path) -> None:
    users = [f"locked-{n}" for n in range(16)]
    settings = Settings(home=own_home)
    hold_locks_then_die(own_home, users)
    time.sleep(1.2)  # the locks reach the append-only file (appendfsync everysec)
    kill_server(own_home)
    agent = Agent.from_settings(settings, skills=SkillRegistry())  # starts the server again
    try:
        started = time.monotonic()
        waits = []
        for user in users:
            agent.respond(user, "hello")  # no 409: each waits for the dead lock's lease at most
            waits.append(time.monotonic() - started)
        assert max(waits) < LEASE_S + 2
        assert all(len(agent.state(user).history) == 1 for user in users)
    finally:
        agent.close()


def test_a_long_turn_keeps_its_lock_past_the_lease(own_home: Path) -> None:
    settings = Settings(home=own_home, lock_lease_s=0.6, lock_wait_s=0.2)
    agent = Agent.from_settings(settings, skills=SkillRegistry())
    try:
        with agent.store.locked("slow-user"):
            time.sleep(2.0)  # over three leases: the keeper renews it
            assert agent.services.redis.exists(agent.store.key("slow-user", "lock"))
        assert not agent.services.redis.exists(agent.store.key("slow-user", "lock"))
    finally:
        agent.close()


def test_serve_restarts_a_crashed_embedded_server_and_clears_its_stale_locks(own_home: Path) -> None:
    served = ServeProcess({"DIALOG_HOME": str(own_home)})
    try:
        chat = {"user_id": "survivor", "text": "hello"}
        assert httpx.post(f"{served.url}/v1/chat", json=chat, timeout=30).status_code == 200
        with EmbeddedServer(own_home).client() as client:  # a lock the crash will bring back
            client.set("dialog:{u:survivor}:lock", "a dead turn's token", px=60_000)
        time.sleep(1.2)  # appendfsync everysec
        kill_server(own_home)
        started, status = time.monotonic(), 0
        while status != 200 and time.monotonic() - started < 30:
            status = httpx.post(f"{served.url}/v1/chat", json=chat, timeout=30).status_code
            time.sleep(0.2)
        assert status == 200, "the server was not restarted"
        assert time.monotonic() - started < 15  # not the lock's 60 s, nor a 409 after 20 s
        history = httpx.get(f"{served.url}/v1/users/survivor/state", timeout=10).json()["history"]
        assert len(history) == 2  # the turn before the crash was on disk
    finally:
        log = served.stop()
    assert "the embedded server is down; starting it again" in log
    assert "the embedded server is up again" in log


def test_a_single_worker_exits_cleanly_on_sigterm(own_home: Path) -> None:
    served = ServeProcess({"DIALOG_HOME": str(own_home), "DIALOG_WORKERS": "1"})
    assert list((own_home / "run").glob("metrics-*"))
    served.process.send_signal(signal.SIGTERM)
    output, _ = served.process.communicate(timeout=60)
    assert served.process.returncode == 0, output
    assert list((own_home / "run").glob("metrics-*")) == []
