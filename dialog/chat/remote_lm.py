"""The neural generator's model behind an OpenAI-compatible chat API (vLLM, llama.cpp's server, Ollama,
TGI, or `dialog generator serve`): one generator process, on a GPU box or shared by many small stateless
workers, instead of a model loaded into every worker.

A turn waits for it only within the generator's budget: the call, retries included, ends by `timeout_s`
(each request is bounded by the time left, and the server is told that time in `X-Timeout-S`). Connection
errors and 429/5xx answers are retried a few times after a short backoff. A server that stays down,
refuses or answers an error is then left alone for `cooldown_s` (a circuit breaker): meanwhile each turn
fails at once, without network traffic, instead of waiting out a timeout. The API key travels only in the
`Authorization` header; no error, log line or repr shows it.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, NoReturn

import httpx

from dialog.chat.lm import (
    Completion,
    GeneratorResting,
    GeneratorTimeout,
    GeneratorUnavailable,
    Message,
    chat_reply,
)
from dialog_core.settings import mask_url

RETRIED = {429, 500, 502, 503}  # overloaded or restarting: worth another try (504: the time is gone)
FIRST_BACKOFF_S = 0.1
NO_SCORE = 0.5  # a server that gives no log-probabilities
_ABOUT_N = re.compile(r"\bchoices?\b|\bn\b", re.IGNORECASE)  # a refusal of `n` > 1 ("only one choice")
SERVER_SHARE = 0.9  # of the time left, what the server may spend: the rest carries the answer back


class RemoteLM:
    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None, *,
                 cooldown_s: float = 30.0, retries: int = 2) -> None:  # fmt: skip
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.shown = mask_url(base_url.rstrip("/"))
        self.model = model
        self.name = f"{model} at {self.shown}"
        self.cooldown_s = cooldown_s
        self.retries = retries
        self._key = api_key or ""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers)
        self._down_until = 0.0
        self._down_because = ""
        self._one_choice = False  # the server refused `n` > 1 (llama.cpp's server does)

    def __repr__(self) -> str:
        return f"RemoteLM({self.shown!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def complete(self, messages: list[Message], *, count: int, max_new_tokens: int,
                 timeout_s: float) -> list[Completion]:  # fmt: skip
        deadline = time.monotonic() + timeout_s
        wait_s = self._down_until - time.monotonic()
        if wait_s > 0:
            raise GeneratorResting(f"{self._down_because}; not asked again for {math.ceil(wait_s)} s.")
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens,
                                "temperature": 0.7, "top_p": 0.9, "n": count, "logprobs": True}  # fmt: skip
        if self._one_choice:
            del body["n"]
        backoff, failures = FIRST_BACKOFF_S, 0
        while (left := deadline - time.monotonic()) > 0:
            try:
                server_s = {"X-Timeout-S": f"{left * SERVER_SHARE:.3f}"}
                response = self._client.post(self.url, json=body, timeout=left, headers=server_s)
            except httpx.ConnectTimeout:
                self._trip(f"did not accept a connection within {left * 1000:.0f} ms")
            except httpx.TimeoutException:
                break
            except httpx.TransportError as error:
                reason = _words(self._hidden(str(error))) or type(error).__name__
                problem, retry = f"cannot be reached ({reason})", True
            else:
                status = response.status_code
                if status == httpx.codes.OK:
                    return self._completions(response)
                if status == httpx.codes.GATEWAY_TIMEOUT:
                    break
                if "n" in body and count > 1 and status in (400, 422, 500) and _ABOUT_N.search(response.text):
                    del body["n"]  # one choice per request: fewer candidates, but some
                    self._one_choice = True
                    continue
                problem, retry = f"answered HTTP {status}{self._detail(response)}", status in RETRIED
            failures += 1
            if not retry or failures > self.retries or deadline - time.monotonic() <= backoff:
                self._trip(problem)
            time.sleep(backoff)
            backoff *= 2
        raise GeneratorTimeout(f"no reply from the generator at {self.shown} in {timeout_s * 1000:.0f} ms")

    def _completions(self, response: httpx.Response) -> list[Completion]:
        """The distinct replies, each cut after its complete sentences, with its mean token probability
        (as the local model scores) when the server gives log-probabilities."""
        replies: dict[str, float] = {}
        try:
            for choice in response.json()["choices"]:
                text = chat_reply(choice["message"]["content"] or "", choice.get("finish_reason") == "stop")
                score = _score(choice.get("logprobs"))
                if text and score > replies.get(text, -1.0):
                    replies[text] = score
        except (ValueError, KeyError, TypeError, AttributeError):
            self._trip("answered something that is not a chat completion")
        return [Completion(text, score) for text, score in replies.items()]

    def _trip(self, problem: str) -> NoReturn:
        self._down_because = f"The generator at {self.shown} {problem}"
        self._down_until = time.monotonic() + self.cooldown_s
        raise GeneratorUnavailable(f"{self._down_because}.")

    def _detail(self, response: httpx.Response) -> str:
        """The server's own words for an error, short: `{"error": {"message": ...}}` or `{"error": ...}`."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return ""
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str) or not _words(message):
            return ""
        return f" ({_words(self._hidden(message))[:120]})"

    def _hidden(self, text: str) -> str:
        return text.replace(self._key, "********") if self._key else text


def _words(text: str) -> str:
    """Text to quote inside a sentence: one line, no sentence end."""
    return " ".join(text.split()).replace(". ", "; ").rstrip(".")


def _score(logprobs: object) -> float:
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    found = [t.get("logprob") for t in tokens or [] if isinstance(t, dict)]
    values = [value for value in found if isinstance(value, int | float) and math.isfinite(value)]
    return math.exp(sum(values) / len(values)) if values else NO_SCORE
