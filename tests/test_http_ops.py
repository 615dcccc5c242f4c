"""Operations of `dialog serve`: metrics over several workers, trace ids and JSON logs, rate and body
limits, OpenAPI. Real processes, real sockets. (Graceful shutdown: tests/test_wechat.py.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from dialog.agent import Agent
from dialog.channels.http import create_app
from tests.conftest import ServeProcess

RATE_LIMIT = 3


def samples(server: ServeProcess, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


class Served(ServeProcess):
    """A server whose output can be read once it is stopped, by a test or at teardown."""

    output: str | None = None

    def stop(self) -> str:
        if self.output is None:
            self.output = super().stop()
        return self.output


@pytest.fixture(scope="module")
def two_workers(home: Path) -> Iterator[Served]:
    server = Served(
        {"DIALOG_HOME": str(home), "DIALOG_WORKERS": "2", "DIALOG_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)}
    )
    yield server
    server.stop()


def chat(server: ServeProcess, user: str, text: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/chat", json={"user_id": user, "text": text}, headers=headers, timeout=30
    )


def test_metrics_add_up_over_the_workers(two_workers: ServeProcess) -> None:
    before = samples(two_workers, "dialog_turn_seconds_count")
    users = [f"metrics-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for user in users:
        for n in range(2):
            assert chat(two_workers, user, f"hello {n}").status_code == 200

    def api_turns(found: dict) -> float:
        return sum(value for labels, value in found.items() if ("channel", "api") in labels)

    # each scrape is a new connection, answered by either worker: all of them see every turn
    totals = {api_turns(samples(two_workers, "dialog_turn_seconds_count")) for _ in range(6)}
    assert totals == {api_turns(before) + 8}
    requests = samples(two_workers, "dialog_http_requests_total")
    assert requests[(("method", "POST"), ("path", "/v1/chat"), ("status", "200"))] >= 8


def test_the_per_user_rate_limit_is_429_with_retry_after(two_workers: ServeProcess, agent: Agent) -> None:
    user = f"rate-{uuid.uuid4().hex[:8]}"
    refused = [chat(two_workers, user, text).status_code for text in ["", "  ", "x" * 2001, "y" * 3000]]
    assert refused == [200, 200, 413, 413]  # not turns: they do not count
    statuses = [chat(two_workers, user, f"message {n}").status_code for n in range(RATE_LIMIT)]
    assert statuses == [200] * RATE_LIMIT
    limited = chat(two_workers, user, "one too many")
    assert limited.status_code == 429 and "Too many messages" in limited.json()["error"]
    assert 50 <= int(limited.headers["retry-after"]) <= 60  # a sliding minute from the first message
    assert chat(two_workers, f"other-{user}", "hello").status_code == 200  # per user
    assert [t.user for t in agent.state(user).history] == [f"message {n}" for n in range(RATE_LIMIT)]


def test_bodies_over_the_limit_are_413_even_when_chunked(two_workers: ServeProcess) -> None:
    payload = json.dumps({"user_id": "big", "text": "x" * 80_000}).encode()
    chunks = iter([payload[:30_000], payload[30_000:60_000], payload[60_000:]])
    response = httpx.post(
        f"{two_workers.url}/v1/chat", content=chunks, headers={"content-type": "application/json"}, timeout=30
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and response.json() == {"error": "The request body is too large."}


def test_unknown_endpoints_and_methods_are_one_sentence(two_workers: ServeProcess) -> None:
    missing = httpx.get(f"{two_workers.url}/v2/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "There is no such endpoint."}
    assert httpx.get(f"{two_workers.url}/v1/chat").status_code == 405
    webhook = httpx.get(f"{two_workers.url}/wechat", params={"echostr": "x"})  # no DIALOG_WECHAT_TOKEN
    assert webhook.status_code == 404 and "DIALOG_WECHAT_TOKEN" in webhook.json()["error"]


def test_openapi_documents_the_api_the_webhook_and_the_bearer_scheme(two_workers: ServeProcess) -> None:
    spec = httpx.get(f"{two_workers.url}/openapi.json").json()
    assert {"/v1/chat", "/wechat", "/healthz", "/metrics"} <= spec["paths"].keys()
    chat_op = spec["paths"]["/v1/chat"]["post"]
    assert {"401", "413", "422", "429", "503"} <= chat_op["responses"].keys()
    assert chat_op["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert httpx.get(f"{two_workers.url}/docs").status_code == 200


def test_an_unexpected_error_is_logged_and_answered_with_its_trace_id(agent: Agent, caplog) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    app = create_app(agent.settings, agent)
    app.add_api_route("/broken", broken)  # the real middleware stack, one route that fails
    response = TestClient(app, raise_server_exceptions=False).get("/broken")  # no lifespan: no agent needed
    assert response.status_code == 500
    trace = response.headers["x-request-id"]
    assert response.json() == {"error": f"Something went wrong on our side (trace id {trace})."}
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)


def test_every_response_carries_a_trace_id_that_the_logs_share(two_workers: Served) -> None:
    """Last in the module: it stops the module's server to read its logs."""
    server = two_workers
    given = chat(server, "trace-1", "hello", **{"X-Request-ID": "trace-abc-123"})
    assert given.headers["x-request-id"] == "trace-abc-123"
    fresh = chat(server, "trace-2", "hi")
    assert len(fresh.headers["x-request-id"]) == 32
    explained = httpx.post(
        f"{server.url}/v1/chat", json={"user_id": "trace-3", "text": "why", "explain": True}, timeout=30
    )
    assert explained.json()["trace"]["trace_id"] == explained.headers["x-request-id"]
    odd = chat(server, "trace-4", "hey", **{"X-Request-ID": "no spaces or {braces}"})
    assert odd.headers["x-request-id"] != "no spaces or {braces}"
    output = server.stop()
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    mine = [entry for entry in logged if entry["trace_id"] == "trace-abc-123"]
    assert mine and mine[-1]["path"] == "/v1/chat" and mine[-1]["status"] == 200
    assert {"ts", "level", "logger", "msg", "duration_ms"} <= mine[-1].keys()
    assert "Application shutdown complete." in [entry["msg"] for entry in logged]
