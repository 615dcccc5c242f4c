"""Feedback captured everywhere: every answered turn is logged with what the ranker saw, the next
message marks it continued or rephrased, and users rate replies through the API and the REPL."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialog.agent import Agent
from dialog.feedback.log import rephrases
from dialog_core.errors import InvalidInput
from dialog_core.settings import Settings
from skills.registry import SkillRegistry
from tests.conftest import ServeProcess, run_dialog


def new_user() -> str:
    return f"fb-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def chat_agent(chat_home: Path) -> Iterator[Agent]:
    """An agent with a real core chat index and ranker: its chat turns have candidates and features."""
    built = Agent.from_settings(
        Settings(home=chat_home, chat_generator_enabled=False), skills=SkillRegistry()
    )
    yield built
    built.close()


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ServeProcess]:
    process = ServeProcess({"DIALOG_HOME": str(home)})
    yield process
    process.stop()


def test_a_core_chat_turn_is_logged_with_the_candidates_and_features_the_ranker_saw(
    chat_agent: Agent,
) -> None:
    user = new_user()
    reply = chat_agent.respond(user, "What is your favourite colour?", channel="repl")
    assert reply.route == "chitchat" and reply.turn_id
    entry = chat_agent.turn_log.get(user, reply.turn_id)
    assert entry is not None
    assert (entry.user_id, entry.text, entry.reply, entry.route, entry.channel, entry.index) == (
        user, "What is your favourite colour?", reply.text, "chitchat", "repl", 1
    )  # fmt: skip
    assert entry.session_id == reply.session_id and entry.latency_ms == reply.trace["timings_ms"]["total"]
    assert entry.candidates and all(c.features for c in entry.candidates)
    assert entry.chosen is not None and entry.candidates[entry.chosen].text == reply.text
    assert [c.rank_score for c in entry.candidates] == sorted(
        (c.rank_score for c in entry.candidates), reverse=True
    )
    assert set(entry.why) == {"decision", "handlers", "timings_ms"}
    assert entry.why["decision"]["route"] == "chitchat"
    assert entry.rating is None and entry.next_gap_s is None
    assert chat_agent.state(user).history[-1].turn_id == reply.turn_id  # the next turn finds it


def test_an_empty_or_refused_message_is_no_turn_and_logs_nothing(agent: Agent, user_id: str) -> None:
    assert agent.respond(user_id, "   ").turn_id == ""
    with pytest.raises(InvalidInput):
        agent.respond(user_id, "x" * 2001)
    assert agent.turn_log.turns(user_id) == [] and agent.turn_log.last(user_id) is None


def test_the_next_message_marks_the_turn_continued_and_whether_it_was_rephrased(
    agent: Agent, user_id: str
) -> None:
    said = ["what is the capital of France", "what's the capital city of France?", "haha ok",
            "德国和哪些国家接壤", "哪些国家和德国接壤？"]  # fmt: skip
    replies = []
    for text in said:
        replies.append(agent.respond(user_id, text))
        time.sleep(0.05)
    entries = agent.turn_log.turns(user_id)
    assert [e.turn_id for e in entries] == [r.turn_id for r in replies]
    assert [e.rephrased for e in entries] == [True, False, False, True, False]
    assert all(0.05 <= e.next_gap_s < 30 for e in entries[:-1] if e.next_gap_s is not None)
    assert [e.next_gap_s is None for e in entries] == [False] * 4 + [True]
    assert entries[1].next_gap_s == pytest.approx(entries[2].at - entries[1].at, abs=0.01)
    idle = agent.settings.session_idle_timeout_s
    assert [e.left(time.time() + idle + 1, idle) for e in entries] == [False] * 4 + [True]
    assert not entries[-1].left(time.time(), idle)  # the session may still go on

    agent.reset(user_id)  # a message of the next session is no follow-up of this one
    agent.respond(user_id, "哪些国家和德国接壤？")
    last_of_session = agent.turn_log.get(user_id, replies[-1].turn_id)
    assert last_of_session is not None and last_of_session.next_gap_s is None


def test_the_rephrasing_rule_in_both_languages() -> None:
    assert rephrases("what's the capital city of France?", "what is the capital of France")
    assert rephrases("how old are you", "How old are you?")  # a repeat is a rephrasing too
    assert rephrases("你喜不喜欢看电影", "你喜欢看电影吗？")
    assert not rephrases("I'm a dog person for sure", "are you a dog person or a cat person?")
    assert not rephrases("你最喜欢哪部电影？", "你喜欢看电影吗？")


def test_a_failing_log_write_does_not_fail_the_answered_turn(
    agent: Agent, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    agent.services.redis.set(agent.store.key(user_id, "turns"), "not a hash")  # HSET there fails
    with caplog.at_level(logging.WARNING, logger="dialog.agent"):
        reply = agent.respond(user_id, "hello")
    assert reply.text and reply.turn_id
    assert agent.state(user_id).history[-1].turn_id == reply.turn_id  # the state was saved
    assert any(f"turn {reply.turn_id} not logged" in r.getMessage() for r in caplog.records)


def test_the_log_keeps_the_newest_feedback_max_turns(home: Path) -> None:
    bounded = Agent.from_settings(Settings(home=home, feedback_max_turns=3), skills=SkillRegistry())
    user = new_user()
    try:
        replies = [bounded.respond(user, f"message number {n}") for n in range(5)]
        assert [e.text for e in bounded.turn_log.turns(user)] == [f"message number {n}" for n in (2, 3, 4)]
        assert bounded.turn_log.get(user, replies[0].turn_id) is None
        entries = bounded.services.redis.hlen(bounded.store.key(user, "turns"))
        assert entries == 3  # the dropped entries leave the hash too, not just the list
    finally:
        bounded.close()


def test_the_log_expires_with_the_retention_setting(home: Path) -> None:
    ttl_s = 2.0
    short = Agent.from_settings(Settings(home=home, state_ttl_days=ttl_s / 86_400), skills=SkillRegistry())
    forever = Agent.from_settings(Settings(home=home, state_ttl_days=0), skills=SkillRegistry())
    user, kept = new_user(), new_user()
    try:
        short.respond(user, "hello")
        forever.respond(kept, "hello")
        logged = [short.store.key(user, kind) for kind in ("turns", "turn_ids")]
        assert all(0 < short.services.redis.pttl(key) <= ttl_s * 1000 for key in logged)
        assert [forever.services.redis.ttl(forever.store.key(kept, k)) for k in ("turns", "turn_ids")] == [
            -1,
            -1,
        ]
        time.sleep(ttl_s + 0.5)
        assert short.turn_log.turns(user) == [] and short.services.redis.exists(*logged) == 0
    finally:
        short.close()
        forever.close()


def chat(server: ServeProcess, user: str, text: str) -> dict:
    response = httpx.post(f"{server.url}/v1/chat", json={"user_id": user, "text": text}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def rate(server: ServeProcess, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/feedback", json=body, timeout=30)


def logged(server: ServeProcess, user: str) -> list[dict]:
    response = httpx.get(f"{server.url}/v1/users/{user}/turns", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["turns"]


def test_rating_replies_through_the_api(server: ServeProcess) -> None:
    user = new_user()
    first, second = chat(server, user, "hello"), chat(server, user, "你好")
    assert first["turn_id"] and second["turn_id"] and first["turn_id"] != second["turn_id"]
    good = rate(server, user_id=user, turn_id=first["turn_id"], rating=1, comment="  nice, 很好  ")
    assert good.status_code == 200
    assert good.json() == {"turn_id": first["turn_id"], "rating": 1, "comment": "nice, 很好"}
    bad = rate(server, user_id=user, rating=-1)  # turn_id "last" by default
    assert bad.json() == {"turn_id": second["turn_id"], "rating": -1, "comment": ""}
    turns = logged(server, user)
    assert [(t["turn_id"], t["rating"], t["comment"], t["rated_by"]) for t in turns] == [
        (first["turn_id"], 1, "nice, 很好", "user"), (second["turn_id"], -1, "", "user")
    ]  # fmt: skip
    assert turns[0]["text"] == "hello" and turns[1]["text"] == "你好" and turns[0]["next_gap_s"] is not None
    assert [
        t["turn_id"] for t in httpx.get(f"{server.url}/v1/users/{user}/turns?limit=1").json()["turns"]
    ] == [second["turn_id"]]
    assert logged(server, "warm-up") == []  # the server's warm-up turns are not turns


def test_bad_feedback_gets_a_4xx_in_one_sentence_and_stores_nothing(server: ServeProcess) -> None:
    user, other, newcomer = new_user(), new_user(), new_user()
    mine, theirs = chat(server, user, "hello")["turn_id"], chat(server, other, "hello")["turn_id"]
    before = logged(server, user), logged(server, other)
    cases = [
        ({"user_id": user, "turn_id": "f" * 32, "rating": 1}, 404, "There is no such turn of this user's"),
        ({"user_id": user, "turn_id": mine, "rating": 7}, 422, "A rating is +1 (good) or -1 (bad)."),
        ({"user_id": user, "turn_id": theirs, "rating": 1}, 404, "There is no such turn of this user's"),
        ({"user_id": newcomer, "rating": 1}, 404, "This user has no turn to rate yet."),
        ({"user_id": user, "turn_id": mine, "rating": True}, 422, "Invalid request: rating: "),
        ({"user_id": user, "turn_id": mine}, 422, "Invalid request: rating: "),
    ]
    for body, status, sentence in cases:
        response = rate(server, **body)
        error = response.json()["error"]
        assert response.status_code == status and error.startswith(sentence), (body, response.text)
        assert error.count(". ") == 0 and error.endswith("."), error  # one sentence
    assert (logged(server, user), logged(server, other)) == before
    assert logged(server, newcomer) == []


def test_feedback_needs_the_bearer_token_when_one_is_set(home: Path) -> None:
    guarded = ServeProcess({"DIALOG_HOME": str(home), "DIALOG_API_TOKEN": "s3cret"})
    try:
        refused = rate(guarded, user_id="someone", rating=1)
        assert refused.status_code == 401 and refused.json() == {"error": "A valid bearer token is required."}
        listing = httpx.get(f"{guarded.url}/v1/users/someone/turns", timeout=10)
        assert listing.status_code == 401
        spec = httpx.get(f"{guarded.url}/openapi.json", timeout=10).json()["paths"]["/v1/feedback"]["post"]
        assert spec["summary"] and {"200", "401", "404", "422"} <= set(spec["responses"])
    finally:
        guarded.stop()


def test_erasing_the_user_erases_their_turns_and_ratings(server: ServeProcess, agent: Agent) -> None:
    user = new_user()
    chat(server, user, "hello")
    assert rate(server, user_id=user, rating=1).status_code == 200
    assert agent.store.user_keys(user)
    assert httpx.delete(f"{server.url}/v1/users/{user}", timeout=30).json() == {"forgotten": True}
    assert logged(server, user) == [] and agent.store.user_keys(user) == []
    assert rate(server, user_id=user, rating=1).status_code == 404

    other = new_user()  # and through the Python API
    turn_id = agent.respond(other, "hello").turn_id
    agent.turn_log.rate(other, turn_id, -1, "meh")
    agent.forget(other)
    assert agent.turn_log.turns(other) == [] and agent.turn_log.get(other, turn_id) is None


def test_rating_in_the_repl(home: Path, agent: Agent) -> None:
    user = new_user()
    script = "/good\nhello\n/GOOD  nice one\n\n/bad 不太好\n你好\n/good\n/help\n/reset\n/bad\n/quit\n"
    result = run_dialog(
        "chat", "--user", user, env={"DIALOG_HOME": str(home), "COLUMNS": "200"}, input=script
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines.count("Nothing to rate yet. 还没有可以评价的回复。") == 2  # before any turn, after /reset
    assert "Thanks — noted as good." in lines and "Thanks — noted as bad; I'll try to do better." in lines
    assert "谢谢，已记下：回答得好。" in lines
    assert any(line.startswith("/good [comment]") for line in lines)  # /help lists them
    turns = agent.turn_log.turns(user)
    # the empty line between is no turn: /bad still rates "hello", overriding the /GOOD before it
    assert [(t.text, t.rating, t.comment) for t in turns] == [("hello", -1, "不太好"), ("你好", 1, "")]
    assert all(t.channel == "repl" and t.rated_by == "user" for t in turns)


def test_dialog_ask_json_carries_the_turn_id(home: Path, agent: Agent) -> None:
    user = new_user()
    result = run_dialog("ask", "--user", user, "--json", "hello", env={"DIALOG_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    entry = agent.turn_log.get(user, reply["turn_id"])
    assert entry is not None and (entry.channel, entry.reply) == ("cli", reply["reply"])
