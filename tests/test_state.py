"""DialogueState in Redis: versioned JSON, atomic saves, sessions, key space."""

from __future__ import annotations

import time

import pytest

from dialog.agent import Agent
from dialog.state.store import ConcurrentUpdate, StateStore
from dialog_core.errors import InvalidInput, ServiceUnavailable
from dialog_core.settings import Settings
from dialog_core.state import SCHEMA_VERSION, DialogueState, TurnRecord


@pytest.fixture
def store(agent: Agent) -> StateStore:
    return agent.store


def _turn(index: int, text: str = "hi") -> TurnRecord:
    return TurnRecord(index=index, at=time.time(), channel="test", user=text, reply="ok", route="chitchat")


def test_state_is_stored_as_versioned_json_and_round_trips(store: StateStore, user_id: str) -> None:
    state = DialogueState.new(user_id, time.time())
    state.record_turn(_turn(1, "你好"), max_history=10)
    state.profile["name"] = "Ada"
    store.save(state)
    raw = store.redis.hgetall(store.key(user_id, "state"))
    assert raw["rev"] == "1"
    loaded = store.load(user_id, time.time())
    assert loaded == state
    assert loaded.schema_version == SCHEMA_VERSION and '"schema_version":1' in raw["json"]


def test_a_save_from_a_stale_revision_is_refused_and_writes_nothing(store: StateStore, user_id: str) -> None:
    first = store.load(user_id, time.time())
    second = store.load(user_id, time.time())
    first.record_turn(_turn(1, "first"), 10)
    store.save(first)
    second.record_turn(_turn(1, "second"), 10)
    with pytest.raises(ConcurrentUpdate):
        store.save(second)
    assert [t.user for t in store.load(user_id, time.time()).history] == ["first"]


def test_history_is_bounded_but_turns_are_counted(user_id: str) -> None:
    state = DialogueState.new(user_id, time.time())
    for index in range(1, 13):
        state.record_turn(_turn(index, f"m{index}"), max_history=5)
    assert [t.user for t in state.history] == ["m8", "m9", "m10", "m11", "m12"]
    assert state.total_turns == state.session.turns == 12


@pytest.mark.parametrize(
    "odd_id",
    ["a}b", "{u:victim}", "x:state", "*", "../../etc", "user\nname", "用户 一", "%7B", "a" * 256],
)
def test_odd_user_ids_stay_inside_their_own_key_space(agent: Agent, odd_id: str) -> None:
    store = agent.store
    before = set(store.redis.scan_iter(match="*"))
    agent.respond(odd_id, "hello")
    new_keys = set(store.redis.scan_iter(match="*")) - before
    assert new_keys == {store.key(odd_id, kind) for kind in ("state", "turns", "turn_ids")}  # + the turn log
    for key in new_keys:
        tag = key[key.index("{") + 1 : key.index("}")]
        assert "{" not in tag and ":" not in tag.removeprefix("u:") and "*" not in tag
    assert agent.state(odd_id).history[-1].user == "hello"


def test_ids_that_could_collide_after_escaping_do_not(agent: Agent) -> None:
    agent.respond("{u:x}", "one")
    agent.respond("%7Bu%3Ax%7D", "two")
    assert [t.user for t in agent.state("{u:x}").history] == ["one"]
    assert [t.user for t in agent.state("%7Bu%3Ax%7D").history] == ["two"]


def test_empty_and_oversized_user_ids_are_refused(agent: Agent) -> None:
    with pytest.raises(InvalidInput):
        agent.respond("", "hello")
    with pytest.raises(InvalidInput):
        agent.respond("x" * 257, "hello")


def test_a_state_from_a_newer_schema_is_not_misread(store: StateStore, user_id: str) -> None:
    future = DialogueState.new(user_id, time.time()).model_copy(update={"schema_version": SCHEMA_VERSION + 1})
    store.redis.hset(store.key(user_id, "state"), mapping={"rev": "1", "json": future.model_dump_json()})
    with pytest.raises(ServiceUnavailable):
        store.load(user_id, time.time())


def test_an_unreadable_state_is_quarantined_and_the_user_starts_afresh(agent: Agent, user_id: str) -> None:
    store = agent.store
    store.redis.hset(store.key(user_id, "state"), mapping={"rev": "4", "json": "{not json"})
    reply = agent.respond(user_id, "hello again")
    assert reply.text
    assert store.redis.get(store.key(user_id, "corrupt")) == "{not json"
    assert [t.user for t in agent.state(user_id).history] == ["hello again"]


def test_a_new_session_starts_after_the_idle_timeout(settings: Settings, user_id: str) -> None:
    quick = settings.model_copy(update={"session_idle_timeout_s": 3.0})
    agent = Agent.from_settings(quick)
    try:
        agent.respond(user_id, "first")
        state = agent.store.load(user_id, time.time())
        state.profile["name"] = "Ada"
        agent.store.save(state)
        first_session = agent.respond(user_id, "second").session_id
        time.sleep(3.5)
        third = agent.respond(user_id, "third")
    finally:
        agent.close()
    assert third.session_id != first_session
    state = agent.store.load(user_id, time.time())
    assert [t.user for t in state.history] == ["third"]
    assert state.session.turns == 1 and state.total_turns == 3
    assert state.profile == {"name": "Ada"}  # the profile outlives sessions
    [summary] = agent.store.session_summaries(user_id)
    assert summary.session_id == first_session and summary.turns == 2
    assert sum(summary.routes.values()) == 2  # editorial, or a topic once core chat failed twice


def test_reset_starts_a_new_session_and_forget_deletes_everything(agent: Agent, user_id: str) -> None:
    old = agent.respond(user_id, "hello").session_id
    assert agent.reset(user_id).session.id != old
    assert agent.state(user_id).history == []
    assert len(agent.store.session_summaries(user_id)) == 1
    agent.forget(user_id)
    assert (
        agent.store.redis.exists(agent.store.key(user_id, "state"), agent.store.key(user_id, "sessions")) == 0
    )
