"""`dialog generator serve`: one process serves the neural generator's model over the OpenAI chat API, so
the model is loaded once, on the machine that suits it (a GPU box), and the agent's workers stay small and
stateless (DIALOG_CHAT_GENERATOR_URL: dialog.chat.remote_lm). The tests use it as the real server for
RemoteLM.

It speaks the part of the API the generator needs: POST /v1/chat/completions (no streaming; whatever model
is named, this one answers) and GET /v1/models; with a key, both need `Authorization: Bearer <key>`.
Sampling is the model's own (temperature 0.7, top-p 0.9): a request's values are accepted and ignored. A
client may send its time left in `X-Timeout-S`; generation stops by then (at most `max_timeout_s`), and
with no complete reply the answer is 504. Errors are OpenAI's shape, one sentence:
`{"error": {"message": ..., "type": ...}}`.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dialog.chat.lm import Completion, GeneratorTimeout, GeneratorUnavailable, LanguageModel
from dialog_core.errors import AuthError, DialogError
from dialog_core.settings import Settings

MAX_NEW_TOKENS = 256
DEFAULT_NEW_TOKENS = 64
_bearer = HTTPBearer(auto_error=False)  # module-level: FastAPI resolves the annotations in the module


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    model: str = "default"
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # the newer name
    n: int = Field(1, ge=1, le=8)
    logprobs: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stream: Literal[False] | None = None


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def _problem(error: dict[str, Any]) -> str:
    where = ".".join(map(str, error["loc"][1:])) or "the body"
    return "the body is not valid JSON" if error["type"] == "json_invalid" else f"{where}: {error['msg']}"


def _choice(index: int, completion: Completion, logprobs: bool) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "message": {"role": "assistant", "content": completion.text},
                              "finish_reason": "stop"}  # fmt: skip
    if logprobs:  # the reply's score as one entry: a client's mean gives it back
        logprob = math.log(completion.score) if completion.score > 0 else -9999.0
        choice["logprobs"] = {"content": [{"token": completion.text, "logprob": logprob, "top_logprobs": []}]}
    return choice


def create_app(lm: LanguageModel, api_key: str | None = None, max_timeout_s: float = 30.0) -> FastAPI:
    app = FastAPI(title="dialog generator", description=__doc__)
    started = int(time.time())

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        given = credentials.credentials if credentials else ""
        if api_key and not secrets.compare_digest(given.encode(), api_key.encode()):
            raise AuthError("A valid API key is required.")

    @app.exception_handler(DialogError)
    async def dialog_error(request: Request, error: DialogError) -> JSONResponse:
        if isinstance(error, GeneratorTimeout):
            return _error(504, f"The model wrote no complete reply in time ({error}).", "timeout")
        kind = "authentication_error" if isinstance(error, AuthError) else "server_error"
        return _error(error.http_status, str(error), kind)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in error.errors())
        return _error(422, f"Invalid request: {problems}.", "invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        sentence = {404: "There is no such endpoint.", 405: "This endpoint does not take that method."}
        message = sentence.get(error.status_code, str(error.detail))
        return _error(error.status_code, message, "invalid_request_error")

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    def models() -> dict[str, Any]:
        model = {"id": lm.name, "object": "model", "created": started, "owned_by": "dialog"}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    def chat_completions(
        body: ChatRequest, x_timeout_s: Annotated[float | None, Header(gt=0)] = None
    ) -> dict[str, Any]:
        tokens = min(body.max_completion_tokens or body.max_tokens or DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS)
        timeout_s = min(x_timeout_s or max_timeout_s, max_timeout_s)
        messages = [message.model_dump() for message in body.messages]
        completions = lm.complete(messages, count=body.n, max_new_tokens=tokens, timeout_s=timeout_s)
        choices = [_choice(n, completion, bool(body.logprobs)) for n, completion in enumerate(completions)]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": lm.name, "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }  # fmt: skip

    return app


def serve(settings: Settings, host: str, port: int, model: str | None = None) -> None:
    """Load the model (`model`, else the settings' one), then serve it until stopped."""
    import uvicorn

    from dialog.chat.assembly import Parts
    from dialog.chat.local_lm import LocalLM

    spec = model or Parts(settings).generator_model()
    if spec is None:
        raise GeneratorUnavailable("There is no generator model: give --model, or run `dialog setup`.")
    lm = LocalLM(spec, threads=settings.chat_generator_threads, seed=settings.chat_seed)
    key = settings.chat_generator_api_key.get_secret_value() if settings.chat_generator_api_key else None
    app = create_app(lm, key)
    print(f"generator {lm.name} listening on http://{host}:{port}/v1"
          f"{' (API key required)' if key else ''}", flush=True)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning")
