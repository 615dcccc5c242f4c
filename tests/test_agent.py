"""One turn end to end on the real embedded server: pipeline, persistence, concurrency, faults."""

from __future__ import annotations

import threading
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import pytest

from dialog.agent import Agent
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.errors import MessageTooLong, ServiceUnavailable
from dialog_core.settings import Settings
from dialog_core.text import is_cjk
from dialog_core.turn import CHITCHAT, EDITORIAL, KBQA, TOPIC, HandlerResult, Turn
from knowledge.kbqa import KbqaHandler
from skills.api import Skill, SkillResult
from skills.registry import SkillRegistry


class CounterSkill(Skill):
    """A two-step skill: asks a question, then takes the answer (keeps the turn in between)."""

    name = "counter"
    intents: ClassVar[dict[str, list[str]]] = {"count": ["count for me", "帮我数数"]}

    def can_handle(self, turn: Turn) -> float:
        return 0.9 if "count" in turn.nlu.normalized or "数数" in turn.nlu.normalized else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        memory = self.memory(turn)
        if "asked" not in memory:
            memory["asked"] = True
            return SkillResult("Up to what number?", done=False)
        memory.clear()
        return SkillResult(" ".join(str(n) for n in range(1, int(turn.nlu.normalized) + 1)), done=True)


class ExplodingSkill(Skill):
    name = "exploding"

    def can_handle(self, turn: Turn) -> float:
        return 1.0 if "explode" in turn.nlu.normalized else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        turn.state.slots["half"] = "written"  # must never be saved
        turn.state.profile["name"] = "corrupted"
        raise RuntimeError("boom")


@pytest.fixture
def skilled_agent(settings: Settings) -> Agent:
    agent = Agent.from_settings(settings, skills=SkillRegistry([CounterSkill(), ExplodingSkill()]))
    yield agent
    agent.close()


def test_one_turn_end_to_end_records_the_turn_and_its_trace(agent: Agent, user_id: str) -> None:
    reply = agent.respond(user_id, "  Hello   there  ", channel="test")
    assert reply.text and reply.route == EDITORIAL  # no generator yet: core chat declines, editorial answers
    assert reply.trace["decision"]["route"] == CHITCHAT
    # no retrieval index in this data dir: core chat declines, the topic manager has no reason to step
    # in on a first turn, editorial answers
    assert [h["route"] for h in reply.trace["handlers"]] == [CHITCHAT, TOPIC, EDITORIAL]
    assert reply.trace["understanding"]["normalized"] == "Hello there"
    assert {"understand.normalize", "policy", "save", "total"} <= reply.trace["timings_ms"].keys()
    [turn] = agent.state(user_id).history
    assert (turn.user, turn.reply, turn.route, turn.channel) == (
        "  Hello   there  ",
        reply.text,
        EDITORIAL,
        "test",
    )


def test_language_follows_the_user(agent: Agent, user_id: str) -> None:
    reply = agent.respond(user_id, "今天天气怎么样")
    assert reply.trace["understanding"]["language"] == "zh"
    assert is_cjk(reply.text)


def test_the_editorial_handler_never_repeats_its_last_line(agent: Agent, user_id: str) -> None:
    replies = [agent.respond(user_id, f"message {n}").text for n in range(20)]
    assert all(a != b for a, b in pairwise(replies))


def test_empty_or_blank_text_gets_a_prompt_and_records_nothing(agent: Agent, user_id: str) -> None:
    for text in ["", "   ", "\n\t"]:
        reply = agent.respond(user_id, text)
        assert reply.text and reply.route == EDITORIAL and reply.session_id == ""
    assert not agent.store.redis.exists(agent.store.key(user_id, "state"))


def test_text_over_the_limit_is_refused_and_nothing_is_stored(agent: Agent, user_id: str) -> None:
    with pytest.raises(MessageTooLong, match="2000"):
        agent.respond(user_id, "x" * 2001)
    with pytest.raises(MessageTooLong, match="2000"):
        agent.respond(user_id, "长" * 2001)
    assert not agent.store.redis.exists(agent.store.key(user_id, "state"))
    agent.respond(user_id, "x" * 2000)  # exactly the limit is fine


def test_state_survives_an_agent_restart(settings: Settings, user_id: str) -> None:
    first = Agent.from_settings(settings)
    session = first.respond(user_id, "remember this").session_id
    first.close()
    second = Agent.from_settings(settings)
    try:
        reply = second.respond(user_id, "and this")
        assert reply.session_id == session
        assert [t.user for t in second.state(user_id).history] == ["remember this", "and this"]
    finally:
        second.close()


def test_state_survives_an_embedded_server_restart(own_home: Path, user_id: str) -> None:
    settings = Settings(home=own_home)
    agent = Agent.from_settings(settings)
    agent.respond(user_id, "before the restart")
    agent.close()
    assert EmbeddedServer(own_home).stop()
    agent = Agent.from_settings(settings)  # starts the server again, which replays its AOF
    try:
        agent.respond(user_id, "after the restart")
        assert [t.user for t in agent.state(user_id).history] == ["before the restart", "after the restart"]
    finally:
        agent.close()


def test_two_threads_sending_fifty_turns_each_lose_nothing(settings: Settings, user_id: str) -> None:
    agents = [Agent.from_settings(settings) for _ in range(2)]  # separate connection pools, like two workers
    errors: list[Exception] = []

    def send(agent: Agent, name: str) -> None:
        try:
            for n in range(50):
                agent.respond(user_id, f"{name}-{n}")
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(agents[i], name)) for i, name in enumerate("ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for agent in agents:
        agent.close()
    assert not errors
    state = agents[0].state(user_id)
    assert state.session.turns == 100 and len(state.history) == 100
    assert [t.index for t in state.history] == list(range(1, 101))
    for name in "ab":
        assert [t.user for t in state.history if t.user.startswith(name)] == [
            f"{name}-{n}" for n in range(50)
        ]


def test_a_skill_keeps_the_turn_until_it_is_done(skilled_agent: Agent, user_id: str) -> None:
    asked = skilled_agent.respond(user_id, "count for me")
    assert (asked.route, asked.text) == ("skill:counter", "Up to what number?")
    assert skilled_agent.state(user_id).active_skill == "counter"
    answered = skilled_agent.respond(user_id, "3")
    assert (answered.route, answered.text) == ("skill:counter", "1 2 3")
    assert "active and continues" in answered.trace["decision"]["reason"]
    assert skilled_agent.state(user_id).active_skill is None
    assert skilled_agent.respond(user_id, "3").route != "skill:counter"


def test_a_failing_skill_is_rolled_back_and_the_turn_still_answers(
    skilled_agent: Agent, user_id: str
) -> None:
    skilled_agent.respond(user_id, "hello")
    reply = skilled_agent.respond(user_id, "please explode")
    assert reply.route == "skill:exploding" and reply.text.startswith("Sorry, something went wrong")
    assert reply.trace["skill"] == {"name": "exploding", "outcome": "error", "error": "RuntimeError: boom"}
    state = skilled_agent.state(user_id)
    assert "half" not in state.slots and "name" not in state.profile
    assert [t.user for t in state.history] == ["hello", "please explode"]


def test_a_declining_kbqa_handler_falls_back_to_core_chat(settings: Settings, user_id: str) -> None:
    class NoAnswer:
        def answer(self, turn: Turn) -> str | None:
            return None

    class Linker:
        name = "linker"

        def __call__(self, turn: Turn) -> None:
            turn.nlu.intent.name = "knowledge"

    class Echo:
        def handle(self, turn: Turn, route: str) -> HandlerResult:
            return HandlerResult(f"echo {turn.nlu.normalized}", CHITCHAT)

    agent = Agent.from_settings(settings)
    agent.stages.append(Linker())
    agent.handlers[KBQA] = KbqaHandler([NoAnswer()])
    agent.handlers[CHITCHAT] = Echo()
    try:
        reply = agent.respond(user_id, "what is the capital of Atlantis?")
    finally:
        agent.close()
    assert reply.trace["decision"]["route"] == KBQA
    assert (reply.route, reply.text) == (CHITCHAT, "echo what is the capital of Atlantis?")


def test_redis_going_down_mid_turn_writes_nothing_and_says_so(own_home: Path, user_id: str) -> None:
    settings = Settings(home=own_home, lock_lease_s=1.0)
    server = EmbeddedServer(own_home)

    class Crash:
        def handle(self, turn: Turn, route: str) -> HandlerResult:
            server.stop()
            return HandlerResult("never saved", CHITCHAT)

    agent = Agent.from_settings(settings)
    agent.respond(user_id, "saved turn")
    agent.handlers[CHITCHAT] = Crash()
    with pytest.raises(ServiceUnavailable) as raised:
        agent.respond(user_id, "lost turn")
    assert str(raised.value).count(".") == 1  # one sentence
    agent.close()

    agent = Agent.from_settings(settings)
    try:
        assert [t.user for t in agent.state(user_id).history] == ["saved turn"]
        agent.respond(user_id, "next turn")  # the crashed turn's lock expires with its lease
        assert [t.user for t in agent.state(user_id).history] == ["saved turn", "next turn"]
    finally:
        agent.close()


def test_an_unreachable_configured_redis_is_one_clear_error(tmp_path: Path, user_id: str) -> None:
    agent = Agent.from_settings(
        Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0", redis_timeout_s=0.5)
    )
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        agent.respond(user_id, "hello")
    assert not (tmp_path / "server").exists()  # a configured Redis means nothing embedded is started


def test_warm_up_loads_what_the_first_turn_would_and_stores_nothing(world_settings: Settings) -> None:
    agent = Agent.from_settings(world_settings, skills=SkillRegistry())
    try:
        linker = next(stage for stage in agent.stages if stage.name == "entities")
        assert linker._index is None  # loaded on first use
        agent.warm_up()
        assert linker._index is not None and len(linker._index.nodes) > 1000  # the world graph's aliases
        assert not agent.store.redis.exists(agent.store.key("warm-up", "state"))
    finally:
        agent.close()
