"""The JSON API, served by `dialog serve` in real processes and reached over a socket."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx

from dialog_core.outbox import OutboundMessage, Outbox
from tests.conftest import ServeProcess


def chat(server: ServeProcess, user: str, text: str, **extra: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/chat", json={"user_id": user, "text": text, **extra}, timeout=30)


def test_chat_returns_the_contract_fields(serve, user_id: str) -> None:
    server = serve()
    body = chat(server, user_id, "hello").json()
    assert set(body) == {"reply", "route", "session_id", "turn_id", "intent", "emotion"}
    assert body["route"] == "editorial" and body["reply"] and body["session_id"]
    explained = chat(server, user_id, "why?", explain=True).json()
    assert explained["trace"]["decision"]["route"] == "chitchat"
    state = httpx.get(f"{server.url}/v1/users/{user_id}/state").json()
    assert [t["user"] for t in state["history"]] == ["hello", "why?"]


def test_two_serve_processes_share_one_users_history(serve, user_id: str) -> None:
    first, second = serve(), serve()
    for n in range(10):
        response = chat(first if n % 2 == 0 else second, user_id, f"turn {n}")
        assert response.status_code == 200
    expected = [f"turn {n}" for n in range(10)]
    for server in (first, second):
        history = httpx.get(f"{server.url}/v1/users/{user_id}/state").json()["history"]
        assert [t["user"] for t in history] == expected
        assert {t["index"] for t in history} == set(range(1, 11))


def test_bad_inputs_get_clear_errors_and_store_nothing(serve, user_id: str) -> None:
    server = serve()
    too_long = chat(server, user_id, "x" * 2001)
    assert too_long.status_code == 413 and "2000" in too_long.json()["error"]
    empty = chat(server, user_id, "   ")
    assert empty.status_code == 200 and empty.json()["reply"]
    missing = httpx.post(f"{server.url}/v1/chat", json={"user_id": user_id}, timeout=10)
    assert missing.status_code == 422 and "text" in missing.json()["error"]
    not_json = httpx.post(
        f"{server.url}/v1/chat", content=b"{oops", timeout=10, headers={"content-type": "application/json"}
    )
    assert (
        not_json.status_code == 422
        and not_json.json()["error"] == "Invalid request: the body is not valid JSON."
    )
    a_list = httpx.post(f"{server.url}/v1/chat", json=[user_id], timeout=10)
    assert a_list.status_code == 422 and a_list.json()["error"].startswith("Invalid request: the body: ")
    huge = httpx.post(f"{server.url}/v1/chat", content=b"x" * 100_000, timeout=10)
    assert huge.status_code == 413
    assert httpx.get(f"{server.url}/v1/users/{user_id}/state").json()["history"] == []


def test_odd_user_ids_round_trip_through_the_url(serve) -> None:
    server = serve()
    odd = "weird/id {x}:*?"
    assert chat(server, odd, "hi").status_code == 200
    state = httpx.get(f"{server.url}/v1/users/{quote(odd, safe='')}/state")
    assert state.json()["user_id"] == odd


def test_reset_and_forget(serve, user_id: str) -> None:
    server = serve()
    session = chat(server, user_id, "hello").json()["session_id"]
    new_session = httpx.post(f"{server.url}/v1/users/{user_id}/reset").json()["session_id"]
    assert new_session != session
    assert httpx.delete(f"{server.url}/v1/users/{user_id}").json() == {"forgotten": True}
    assert httpx.get(f"{server.url}/v1/users/{user_id}/state").json()["history"] == []


def test_healthz_checks_redis_and_the_graph(serve) -> None:
    response = httpx.get(f"{serve().url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "graph": "ok"}


def test_an_unreachable_redis_is_503_with_one_sentence(serve, user_id: str) -> None:
    server = serve(DIALOG_REDIS_URL="redis://127.0.0.1:1/0", DIALOG_REDIS_TIMEOUT_S="0.5")
    response = chat(server, user_id, "hello")
    assert response.status_code == 503
    assert response.json() == {
        "error": "The conversation store (Redis) is not reachable right now; please try again shortly."
    }
    assert httpx.get(f"{server.url}/healthz").status_code == 503
    assert "Traceback" not in server.stop()


def test_the_bearer_token_is_required_when_set(serve, user_id: str) -> None:
    server = serve(DIALOG_API_TOKEN="s3cret")
    assert chat(server, user_id, "hello").status_code == 401
    ok = httpx.post(
        f"{server.url}/v1/chat",
        json={"user_id": user_id, "text": "hello"},
        headers={"Authorization": "Bearer s3cret"},
        timeout=30,
    )
    assert ok.status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes need no token


def test_a_path_user_id_is_exactly_one_user(serve) -> None:
    server = serve()
    for user in ("bob", "bob/profile", "bob/state", "bob/reset"):
        assert chat(server, user, f"I am {user}").status_code == 200
    assert httpx.delete(f"{server.url}/v1/users/bob%2Fprofile").json() == {"forgotten": True}
    assert httpx.post(f"{server.url}/v1/users/bob%2Freset/reset").status_code == 200
    states = {user: httpx.get(f"{server.url}/v1/users/{quote(user, safe='')}/state").json() for user in (
        "bob", "bob/profile", "bob/state", "bob/reset"
    )}  # fmt: skip
    assert [t["user"] for t in states["bob"]["history"]] == ["I am bob"]
    assert states["bob/profile"]["history"] == []  # it, and only it, was forgotten
    assert [t["user"] for t in states["bob/state"]["history"]] == ["I am bob/state"]
    assert states["bob/reset"]["user_id"] == "bob/reset" and states["bob/reset"]["history"] == []


def test_text_that_is_not_valid_unicode_is_422_before_the_turn(serve, user_id: str) -> None:
    server = serve()
    headers = {"content-type": "application/json"}
    surrogate = httpx.post(
        f"{server.url}/v1/chat", content=f'{{"user_id": "{user_id}", "text": "hi \\ud800"}}', headers=headers
    )
    assert surrogate.status_code == 422 and "not valid text" in surrogate.json()["error"]
    odd_id = httpx.post(
        f"{server.url}/v1/chat", content='{"user_id": "\\udfff", "text": "hi"}', headers=headers
    )
    assert odd_id.status_code == 422 and "user_id" in odd_id.json()["error"]
    latin1 = f'{{"user_id": "{user_id}", "text": "caf\xe9"}}'.encode("latin-1")
    not_utf8 = httpx.post(f"{server.url}/v1/chat", content=latin1, headers=headers)
    assert not_utf8.status_code == 422 and "UTF-8" in not_utf8.json()["error"]
    long_id = chat(server, "u" * 257, "hello")
    assert long_id.status_code == 422 and "256" in long_id.json()["error"]
    assert httpx.get(f"{server.url}/v1/users/{user_id}/state").json()["history"] == []


def test_reminders_set_through_the_api_are_fetched_once_when_due(serve, agent, user_id: str) -> None:
    server = serve()
    confirmed = chat(server, user_id, "remind me in 10 minutes to stretch").json()
    assert confirmed["route"] == "skill:reminders" and "stretch" in confirmed["reply"]
    outbox = Outbox(agent.services.redis, agent.settings)
    [scheduled] = outbox.pending("api", user_id)
    assert scheduled.kind == "reminder" and 590 < scheduled.due_at - time.time() <= 600
    assert httpx.get(f"{server.url}/v1/users/{user_id}/messages").json() == {"messages": []}  # not yet due
    outbox.schedule(OutboundMessage(user_id=user_id, channel="api", text="⏰ Reminder: drink", due_at=0))
    [due] = httpx.get(f"{server.url}/v1/users/{user_id}/messages").json()["messages"]
    assert due["text"] == "⏰ Reminder: drink" and due["kind"] == "message"
    assert httpx.get(f"{server.url}/v1/users/{user_id}/messages").json() == {"messages": []}  # taken once
    assert [m.id for m in outbox.pending("api", user_id)] == [scheduled.id]
