"""The outbox on the real embedded server: scheduling, atomic claims, restarts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.outbox import OutboundMessage, Outbox
from dialog_core.settings import Settings


def test_only_due_messages_are_claimed_in_due_order(agent: Agent, user_id: str) -> None:
    outbox = Outbox(agent.services.redis, agent.settings)
    now = time.time()
    later = outbox.schedule(OutboundMessage(user_id=user_id, channel="t1", text="later", due_at=now + 60))
    outbox.schedule(OutboundMessage(user_id=user_id, channel="t1", text="second", due_at=now - 1))
    outbox.schedule(OutboundMessage(user_id=user_id, channel="t1", text="first", due_at=now - 2))
    outbox.schedule(OutboundMessage(user_id=user_id, channel="other", text="elsewhere", due_at=now - 5))
    assert [m.text for m in outbox.claim_due("t1", now)] == ["first", "second"]
    assert outbox.claim_due("t1", now) == []
    assert [m.id for m in outbox.pending("t1", user_id)] == [later.id]
    assert outbox.cancel("t1", later.id) and not outbox.cancel("t1", later.id)
    assert outbox.claim_due("t1", now + 120) == []


def test_concurrent_claimers_deliver_each_message_once(agent: Agent, user_id: str) -> None:
    outbox = Outbox(agent.services.redis, agent.settings)
    for n in range(200):
        outbox.schedule(OutboundMessage(user_id=user_id, channel="t2", text=str(n), due_at=0))
    claimed: list[str] = []

    def claim() -> None:
        while batch := outbox.claim_due("t2", limit=7):
            claimed.extend(m.text for m in batch)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed, key=int) == [str(n) for n in range(200)]


def test_scheduled_messages_survive_a_server_restart(own_home: Path, user_id: str) -> None:
    agent = Agent.from_settings(Settings(home=own_home))
    Outbox(agent.services.redis, agent.settings).schedule(
        OutboundMessage(
            user_id=user_id, channel="repl", text="stretch", due_at=time.time() - 1, kind="reminder"
        )
    )
    agent.close()
    EmbeddedServer(own_home).stop()
    agent = Agent.from_settings(Settings(home=own_home))
    try:
        [message] = Outbox(agent.services.redis, agent.settings).claim_due("repl")
        assert (message.text, message.kind, message.user_id) == ("stretch", "reminder", user_id)
    finally:
        agent.close()


def test_undelivered_messages_expire_and_a_users_messages_are_forgotten(own_home: Path, user_id: str) -> None:
    settings = Settings(home=own_home, outbox_ttl_days=1.0 / 86_400)  # one second
    agent = Agent.from_settings(settings)
    outbox = Outbox(agent.services.redis, settings)
    try:
        stale = outbox.schedule(OutboundMessage(user_id=user_id, channel="t3", text="stale", due_at=0))
        time.sleep(1.2)
        fresh = outbox.schedule(OutboundMessage(user_id="other", channel="t3", text="fresh", due_at=0))
        assert [m.id for m in outbox.pending("t3")] == [fresh.id]  # the stale one left all three keys
        assert agent.services.redis.zscore(outbox._keys("t3")[2], stale.id) is None
        outbox.schedule(OutboundMessage(user_id=user_id, channel="t4", text="a", due_at=time.time() + 60))
        assert outbox.forget(user_id) == 1 and outbox.forget("other") == 1
        assert outbox.pending("t3") == outbox.pending("t4") == []
    finally:
        agent.close()
