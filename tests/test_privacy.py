"""Privacy: no credential is ever shown, a forgotten user leaves nothing behind (in Redis or in the
append-only file), and idle users expire. Real embedded servers, real `dialog` processes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.outbox import OutboundMessage, Outbox
from dialog_core.settings import Settings, mask_url, url_credentials
from skills.registry import SkillRegistry
from tests.conftest import ServeProcess, free_port, run_dialog

REDIS_PASSWORD = "redis-pw-4f1c9e"
GRAPH_PASSWORD = "graph-pw-8d02aa"


def test_urls_are_masked_wherever_they_carry_a_credential() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:********@h:6379/0"
    assert mask_url("redis://ada:pw@h/0?password=x&db=1") == "redis://ada:********@h/0?password=********&db=1"
    assert mask_url("unix:///tmp/r.sock?password=pw") == "unix:///tmp/r.sock?password=********"
    assert mask_url("bolt://secret@neo4j:7687") == "bolt://********@neo4j:7687"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert set(url_credentials("redis://:p%40ss@h/0?token=t0k")) == {"p%40ss", "p@ss", "t0k"}


def test_no_password_is_shown_by_healthz_doctor_stats_config_or_logs(own_home: Path) -> None:
    server = EmbeddedServer(own_home)
    server.ensure_running()
    redis.Redis(unix_socket_path=str(server.socket)).config_set("requirepass", REDIS_PASSWORD)
    env = {
        "DIALOG_HOME": str(own_home),
        "DIALOG_REDIS_URL": f"unix://{server.socket}?password={REDIS_PASSWORD}",
        # a graph that does not answer: its URL (with its password) goes into the error sentences
        "DIALOG_FALKORDB_URL": f"redis://:{GRAPH_PASSWORD}@127.0.0.1:{free_port()}/0",
        "DIALOG_REDIS_TIMEOUT_S": "0.5",
    }
    try:
        shown = [run_dialog(*command, env=env) for command in (["config", "show", "--json"], ["doctor"])]
        shown.append(run_dialog("kg", "stats", env=env))
        assert "********" in shown[0].stdout and "not reachable" in shown[1].stdout + shown[2].stderr
        served = ServeProcess(env)
        health = httpx.get(f"{served.url}/healthz", timeout=10)
        log = served.stop()
        assert health.status_code == 503 and "not reachable" in health.json()["graph"]
        assert "********" in health.text
        for text in [health.text, log, *(r.stdout + r.stderr for r in shown)]:
            assert REDIS_PASSWORD not in text and GRAPH_PASSWORD not in text
    finally:
        with redis.Redis(unix_socket_path=str(server.socket), password=REDIS_PASSWORD) as client:
            client.config_set("requirepass", "")


def names_of(client: redis.Redis, user_id: str) -> list[str]:
    """Every key whose name or value mentions the user (strings, hashes, lists, sets, sorted sets)."""
    found = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values = {
            "string": lambda k: [client.get(k)],
            "hash": lambda k: [*client.hkeys(k), *client.hvals(k)],
            "list": lambda k: client.lrange(k, 0, -1),
            "set": lambda k: list(client.smembers(k)),
            "zset": lambda k: client.zrange(k, 0, -1),
        }.get(kind, lambda k: [])(key)
        if user_id in key or any(user_id in value for value in values if isinstance(value, str)):
            found.append(key)
    return found


def test_forgetting_a_user_leaves_nothing_naming_them(own_home: Path) -> None:
    settings = Settings(home=own_home)
    agent = Agent.from_settings(settings, skills=SkillRegistry.discover(settings))
    user, other = "erase-me-7c1d", "keep-me-31aa"
    try:
        for who in (user, other):
            agent.respond(who, "my name is Ada")
            assert agent.respond(who, "remind me in 10 minutes to stretch", channel="repl").route == (
                "skill:reminders"
            )
        Outbox(agent.services.redis, settings).schedule(
            OutboundMessage(user_id=user, channel="wechat", text="late reply", due_at=time.time() + 60)
        )
        agent.services.redis.set(agent.store.key(user, "corrupt"), "{not a state")
        assert names_of(agent.services.redis, user)
        agent.forget(user)
        assert names_of(agent.services.redis, user) == []
        assert names_of(agent.services.redis, other)  # the other user is untouched
        assert [m.user_id for m in Outbox(agent.services.redis, settings).pending("repl")] == [other]
    finally:
        agent.close()


def test_a_forget_rewrites_the_append_only_file(own_home: Path) -> None:
    agent = Agent.from_settings(Settings(home=own_home), skills=SkillRegistry())
    user = "on-disk-5e7b90"
    aof = own_home / "server" / "appendonlydir"
    try:
        agent.respond(user, "hello there")
        time.sleep(1.2)  # appendfsync everysec
        assert any(user.encode() in path.read_bytes() for path in aof.iterdir())
        agent.forget(user)
        deadline = time.monotonic() + 20
        while agent.services.redis.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.2)
        assert not any(user.encode() in path.read_bytes() for path in aof.iterdir())
    finally:
        agent.close()


def test_idle_users_expire_after_the_retention_period(own_home: Path) -> None:
    ttl_s = 2.0
    settings = Settings(home=own_home, state_ttl_days=ttl_s / 86_400)
    agent = Agent.from_settings(settings, skills=SkillRegistry())
    user = "idle-user-0b3e"
    try:
        agent.respond(user, "my name is Ada")
        agent.respond(user, "hello")
        agent.reset(user)  # a finished session's summary is kept, and expires alike
        keys = agent.store.user_keys(user)
        assert {key.rsplit(":", 1)[1] for key in keys} == {"state", "sessions", "turns", "turn_ids"}
        assert all(0 < agent.services.redis.pttl(key) <= ttl_s * 1000 for key in keys)
        time.sleep(ttl_s + 0.5)
        assert agent.store.user_keys(user) == []
        assert agent.state(user).profile == {} and agent.state(user).history == []
    finally:
        agent.close()


def test_without_retention_nothing_expires(own_home: Path) -> None:
    agent = Agent.from_settings(Settings(home=own_home, state_ttl_days=0), skills=SkillRegistry())
    try:
        agent.respond("kept-user", "hello")
        assert [agent.services.redis.ttl(key) for key in agent.store.user_keys("kept-user")] == [-1] * 3
    finally:
        agent.close()
