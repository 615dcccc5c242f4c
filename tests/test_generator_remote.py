"""The neural generator over an OpenAI-compatible API: RemoteLM (dialog.chat.remote_lm) against real servers.

The live server is the project's own in-process model served over the OpenAI chat API: `dialog generator
serve` (dialog.chat.lm_server) in a subprocess, serving the tiny chat model of tests/tiny_lm.py, whose
replies the tests can tell. (llama-cpp-python does not install from PyPI wheels here, and vLLM, TGI and
Ollama need their own binaries or a GPU.) A server that is down is a free port with nothing listening.
No mocks: every request crosses a real socket.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dialog.agent import Agent
from dialog.chat import training
from dialog.chat.corpus import Splitter
from dialog.chat.lm import GeneratorTimeout, GeneratorUnavailable
from dialog.chat.persona import Persona
from dialog.chat.prompt import messages
from dialog.chat.remote_lm import RemoteLM
from dialog.runtime.embedded import EmbeddedServer
from dialog_core.settings import Settings
from dialog_core.turn import CHITCHAT
from skills.registry import SkillRegistry
from tests.conftest import BIN, free_port, run_dialog
from tests.tiny_lm import REPLIES, make_tiny_lm

KEY = "sk-generator-test-5f0c9a27e4"
GYM = messages(Persona.load(), "en", "I just got back from the gym")  # as the generator prompts
WORK = messages(Persona.load(), "zh", "我刚下班")
PAIRS = [
    {"query": "What is your favourite colour?", "response": "Blue, like a clear summer sky."},
    {"query": "Do you like pizza?", "response": "I love mushrooms and olives on it."},
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def server(tiny_lm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dialog generator serve --model <tiny>` with an API key; its base URL once it answers."""
    home = tmp_path_factory.mktemp("generator-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = home / "serve.out"
    env = {**os.environ, "DIALOG_HOME": str(home), "DIALOG_CHAT_GENERATOR_API_KEY": KEY,
           "DIALOG_CHAT_SEED": "1"}  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "dialog"), "generator", "serve", "--model", str(tiny_lm), "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dialog generator serve did not start: {log.read_text()}")
            try:
                httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert f"listening on {url}" in log.read_text()


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir with a two-pair index (no ranker: candidates rank by their generators' scores)."""
    home = tmp_path_factory.mktemp("remote-chat-home")
    corpus = home / "pairs.jsonl"
    corpus.write_text("\n".join(json.dumps(pair) for pair in PAIRS))
    training.build_index(Settings(home=home), [corpus], include_default=False, splitter=Splitter(0, 0))
    yield home
    EmbeddedServer(home).stop()


def dead_url() -> tuple[int, str]:
    port = free_port()
    return port, f"http://127.0.0.1:{port}/v1"


def test_remote_lm_gets_the_served_models_replies(server: str) -> None:
    lm = RemoteLM(server, "tiny", KEY)
    try:
        english = lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=30)
        chinese = lm.complete(WORK, count=2, max_new_tokens=24, timeout_s=30)
    finally:
        lm.close()
    for completions in (english, chinese):
        texts = [c.text for c in completions]
        assert texts and set(texts) <= REPLIES and len(set(texts)) == len(texts)
        # the model's own scores came back through `logprobs`, not the 0.5 of a server without them
        assert all(0 < c.score <= 1 for c in completions) and any(c.score != 0.5 for c in completions)


def test_the_server_speaks_the_openai_api_and_answers_errors_in_one_sentence(server: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    models = httpx.get(f"{server}/models", headers=auth, timeout=10).json()
    assert models["object"] == "list" and models["data"][0]["id"]
    request = {"model": "whatever", "messages": GYM, "max_tokens": 24, "n": 2}
    answer = httpx.post(f"{server}/chat/completions", json=request, headers=auth, timeout=30)
    body = answer.json()
    assert answer.status_code == 200 and body["object"] == "chat.completion" and body["id"]
    assert isinstance(body["created"], int) and body["model"] == models["data"][0]["id"]
    assert body["choices"]
    for choice in body["choices"]:
        assert choice["message"]["role"] == "assistant" and choice["message"]["content"] in REPLIES
        assert choice["finish_reason"] == "stop"
    chat = f"{server}/chat/completions"
    refusals = {
        401: httpx.post(chat, json=request, timeout=10),
        422: httpx.post(chat, json={**request, "messages": []}, headers=auth, timeout=10),
        504: httpx.post(chat, json=request, headers={**auth, "X-Timeout-S": "0.000001"}, timeout=10),
    }  # 504: no time to write anything
    for status, refused in refusals.items():
        message = refused.json()["error"]["message"]
        assert refused.status_code == status, message
        assert message.endswith(".") and message.count(". ") == 0 and KEY not in message
    wrong = httpx.get(f"{server}/models", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401


def test_the_key_is_required_and_a_wrong_one_is_never_shown(server: str) -> None:
    wrong = "sk-wrong-key-31c4e8d2"
    for key in (None, wrong):
        lm = RemoteLM(server, "tiny", key)
        with pytest.raises(GeneratorUnavailable) as refused:
            lm.complete(GYM, count=1, max_new_tokens=24, timeout_s=30)
        message = str(refused.value)
        assert "HTTP 401" in message and server in message and "\n" not in message
        assert wrong not in message and KEY not in message and wrong not in repr(lm)
        lm.close()
    assert KEY not in repr(RemoteLM(server, "tiny", KEY))


def test_a_slow_answer_is_a_timeout_and_the_server_is_still_asked_next_time(server: str) -> None:
    lm = RemoteLM(server, "tiny", KEY)
    try:
        assert lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=30)  # connected: the next call reads
        with pytest.raises(GeneratorTimeout):
            lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=0.002)
        assert lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=30)  # no cool-down after a timeout
    finally:
        lm.close()


def test_a_server_that_is_down_fails_fast_then_is_left_alone_for_the_cool_down() -> None:
    port, url = dead_url()
    lm = RemoteLM(url, cooldown_s=1.0)
    started = time.monotonic()
    with pytest.raises(GeneratorUnavailable) as down:
        lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=10)
    assert time.monotonic() - started < 2  # a few quick retries, not the 10 s timeout
    assert f"The generator at {url} cannot be reached" in str(down.value)
    with socket.socket() as listener:  # now something listens there, and counts who connects
        listener.bind(("127.0.0.1", port))
        listener.listen()
        listener.setblocking(False)
        started = time.monotonic()
        with pytest.raises(GeneratorUnavailable, match="not asked again"):
            lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=10)
        assert time.monotonic() - started < 0.05
        with pytest.raises(BlockingIOError):
            listener.accept()  # inside the cool-down: no connection was tried
        time.sleep(1.1)
        with pytest.raises(GeneratorTimeout):  # after it: asked again (the listener never answers)
            lm.complete(GYM, count=2, max_new_tokens=24, timeout_s=0.3)
        listener.accept()[0].close()
    lm.close()


def test_an_agent_turn_with_the_generator_down_is_answered_and_traced(
    small_home: Path, user_id: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = dead_url()
    monkeypatch.setenv("DIALOG_CHAT_GENERATOR_URL", url)
    # above every retrieval score: core chat asks the neural generator
    agent = Agent.from_settings(Settings(home=small_home, chat_threshold=0.99), skills=SkillRegistry())
    try:
        assert "neural" in [g.name for g in agent.handlers[CHITCHAT].generators]
        with caplog.at_level(logging.WARNING):
            reply = agent.respond(user_id, "zxqv plorb wuggle")
            again = agent.respond(user_id, "plorb wuggle zxqv")  # within the cool-down: no new warning
    finally:
        agent.close()
    assert again.text and "not asked again" in again.trace["generator_error.neural"]
    assert reply.text and reply.route != CHITCHAT
    assert reply.trace["generator_error.neural"].startswith(f"GeneratorUnavailable: The generator at {url}")
    assert reply.trace["timings_ms"]["generate.neural"] < 2000  # not the 3 s budget
    skipped = [r for r in caplog.records if r.getMessage().startswith("generator neural skipped: ")]
    assert len(skipped) == 1 and skipped[0].levelno == logging.WARNING


def test_an_agent_turn_is_answered_by_the_served_model(
    small_home: Path, server: str, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALOG_CHAT_GENERATOR_URL", server)
    monkeypatch.setenv("DIALOG_CHAT_GENERATOR_API_KEY", KEY)
    # retrieval's pairs (colours, pizza) score under 0.1 here, the model's replies over 0.8
    settings = Settings(home=small_home, chat_threshold=0.3, chat_seed=1)
    agent = Agent.from_settings(settings, skills=SkillRegistry())
    try:
        reply = agent.respond(user_id, "I just got back from the gym")
    finally:
        agent.close()
    assert reply.route == CHITCHAT and reply.text in REPLIES
    assert "generator_error.neural" not in reply.trace
    assert any(c["source"] == "neural" and c["text"] == reply.text for c in reply.trace["candidates"])


def test_serving_without_a_model_is_one_red_sentence(tmp_path: Path) -> None:
    result = run_dialog("generator", "serve", "--port", str(free_port()), env={"DIALOG_HOME": str(tmp_path)})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == "There is no generator model: give --model, or run `dialog setup`."
