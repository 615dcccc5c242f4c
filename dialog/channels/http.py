"""The HTTP app (FastAPI): the JSON API (/v1/*), the WeChat webhook (/wechat), /healthz, /metrics.

Turns run in worker threads, at most `turn_threads` at once per process: a turn is mostly Python
holding the GIL, and with dozens of them in threads the event loop would hardly get a word in
(WeChat's 5-second deadline included). The per-user Redis lock serialises one user's turns across
threads and worker processes. Every response carries an X-Request-ID (the trace id of its log
lines); errors are `{"error": "<one sentence>"}`.
"""

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import unquote

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from dialog.agent import Agent
from dialog.channels import metrics
from dialog.channels.console import console_router
from dialog.channels.limits import BodyLimit, RateLimited, RateLimiter
from dialog.channels.logs import JsonFormatter, secret_values, trace_id
from dialog.channels.observe import RequestContext
from dialog.channels.wechat.protocol import WeChatConfig
from dialog.channels.wechat.webhook import WeChatChannel, wechat_router
from dialog.feedback.log import LAST, as_json
from dialog_core.errors import AuthError, DialogError
from dialog_core.outbox import Outbox
from dialog_core.settings import Settings
from dialog_core.turn import Emotion, Intent, Reply

log = logging.getLogger(__name__)

DESCRIPTION = """A bilingual (Chinese/English) dialogue agent.

`POST /v1/chat` answers one message; `POST /v1/feedback` rates a reply; `/wechat` is the WeChat
Official Account webhook.
When `DIALOG_API_TOKEN` is set, `/v1/*` needs `Authorization: Bearer <token>`.
Errors are `{"error": "<one sentence>"}`."""


class ChatRequest(BaseModel):
    user_id: str = Field(min_length=1, description="Any id of yours for the user (up to 256 characters).")
    text: str = Field(description="The user's message (up to `max_message_chars`, 2,000 by default).")
    explain: bool = Field(False, description="Include the turn's trace: candidates, scores, route, timings.")

    model_config = {"json_schema_extra": {"examples": [{"user_id": "ada", "text": "你好", "explain": False}]}}


class ChatResponse(BaseModel):
    reply: str
    route: str = Field(description="chitchat, kbqa, skill:<name>, editorial or topic.")
    session_id: str
    turn_id: str | None = Field(
        None,
        description="The turn's id, to rate the reply with `POST /v1/feedback`; none for an empty message.",
    )
    intent: Intent
    emotion: Emotion
    trace: dict[str, Any] | None = Field(None, description="With `explain`: how the reply was chosen.")


class FeedbackRequest(BaseModel):
    user_id: str = Field(min_length=1, description="The user whose reply is rated.")
    turn_id: str = Field(
        LAST, description="The `turn_id` of a `POST /v1/chat` reply, or `last`: their latest."
    )
    rating: int = Field(strict=True, description="+1 (good) or -1 (bad).")
    comment: str = Field("", description="Optional, in the user's words (the first 500 characters are kept).")

    model_config = {
        "json_schema_extra": {"examples": [{"user_id": "ada", "turn_id": "last", "rating": 1, "comment": ""}]}
    }


class FeedbackResponse(BaseModel):
    turn_id: str
    rating: int
    comment: str


class ErrorBody(BaseModel):
    error: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        401: "A bearer token is required (DIALOG_API_TOKEN is set) and was missing or wrong.",
        404: "No such turn of this user's: unknown, another user's, expired, or none yet (`last`).",
        409: "The user's previous message is still being answered.",
        413: "The message or the request body is too long.",
        422: "The request is malformed (or, for feedback, the rating is not +1 or -1).",
        429: "The user sent too many messages this minute (see Retry-After).",
        503: "Redis or the graph is unreachable.",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


def create_app(settings: Settings | None = None, agent: Agent | None = None) -> FastAPI:
    settings = settings or (agent.settings if agent else Settings())
    wechat_config = WeChatConfig.from_settings(settings)  # a settings mistake stops here, in one sentence

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = agent is None
        app.state.agent = agent or Agent.from_settings(settings)
        if own:
            app.state.agent.warm_up()
        app.state.limiter = RateLimiter(app.state.agent.store, settings.rate_limit_per_minute)
        app.state.turns = CapacityLimiter(settings.turn_threads)
        app.state.wechat = (
            WeChatChannel(wechat_config, app.state.agent, app.state.limiter, app.state.turns)
            if wechat_config
            else None
        )
        if app.state.wechat:
            app.state.wechat.start()
        try:
            yield
        finally:  # uvicorn has let in-flight requests finish; now the turns they left running
            if app.state.wechat:
                await app.state.wechat.stop(timeout_s=settings.lock_wait_s + settings.lock_lease_s)
            if own:
                app.state.agent.close()

    app = FastAPI(title="dialog", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(UserPaths)
    app.add_middleware(RequestContext)  # outermost: it sees every response, and unexpected errors
    app.include_router(wechat_router())
    app.include_router(console_router(settings))  # /console, off unless a token is set

    masking = JsonFormatter(secret_values(settings))  # /healthz is public: no credential in its words
    bearer = HTTPBearer(auto_error=False, description="DIALOG_API_TOKEN, when it is set.")

    def current_agent(request: Request) -> Agent:
        return request.app.state.agent

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        expected = settings.api_token.get_secret_value() if settings.api_token else ""
        if not expected:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise AuthError("A valid bearer token is required.")

    AgentDep = Annotated[Agent, Depends(current_agent)]
    v1: dict[str, Any] = {"dependencies": [Depends(authorised)], "tags": ["v1"]}

    @app.exception_handler(DialogError)
    async def dialog_error(request: Request, error: DialogError) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, RateLimited) else None
        return JSONResponse({"error": str(error)}, status_code=error.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in error.errors())
        return JSONResponse({"error": f"Invalid request: {problems}."}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI's only 400: a body it could not decode (not UTF-8)
            return JSONResponse({"error": "Invalid request: the body is not valid UTF-8 JSON."}, 422)
        sentence = {404: "There is no such endpoint.", 405: "This endpoint does not take that method."}
        return JSONResponse(
            {"error": sentence.get(error.status_code, str(error.detail))},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.post(
        "/v1/chat", response_model=ChatResponse, response_model_exclude_none=True,
        responses=_errors(401, 409, 413, 422, 429, 503), summary="Answer one message", **v1,
    )  # fmt: skip
    async def chat(body: ChatRequest, request: Request, agent: AgentDep) -> ChatResponse:
        def answer() -> Reply:
            refused = agent.check_message(body.user_id, body.text)  # not counted against the rate
            if refused is not None:
                return refused
            request.app.state.limiter.check(body.user_id, "api")
            return metrics.observed_turn(
                "api", lambda: agent.respond(body.user_id, body.text, channel="api"), lambda r: r.route
            )

        reply = await run_sync(answer, limiter=request.app.state.turns)
        return ChatResponse(
            reply=reply.text,
            route=reply.route,
            session_id=reply.session_id,
            turn_id=reply.turn_id or None,
            intent=reply.intent,
            emotion=reply.emotion,
            trace={"trace_id": trace_id.get(), **reply.trace} if body.explain else None,
        )

    @app.post(
        "/v1/feedback", response_model=FeedbackResponse, responses=_errors(401, 404, 409, 413, 422, 503),
        summary="Rate a reply (+1 good, -1 bad), with an optional comment", **v1,
    )  # fmt: skip
    def feedback(body: FeedbackRequest, agent: AgentDep) -> FeedbackResponse:
        agent.store.validate_user_id(body.user_id)
        entry = agent.turn_log.rate(body.user_id, body.turn_id, body.rating, body.comment)
        return FeedbackResponse(turn_id=entry.turn_id, rating=body.rating, comment=entry.comment)

    UserId = Annotated[str, Depends(path_user_id)]

    @app.get("/v1/users/{user_id}/state", summary="The stored dialogue state", **v1)
    def user_state(user_id: UserId, agent: AgentDep) -> dict[str, Any]:
        return agent.state(user_id).model_dump()

    @app.get(
        "/v1/users/{user_id}/messages", summary="Take the user's due messages (reminders), each once", **v1
    )
    def due_messages(user_id: UserId, agent: AgentDep) -> dict[str, list[dict[str, Any]]]:
        agent.store.validate_user_id(user_id)
        due = Outbox(agent.services.redis, agent.settings).take_due("api", user_id)
        return {"messages": [message.model_dump(include={"id", "text", "kind", "due_at"}) for message in due]}

    @app.get(
        "/v1/users/{user_id}/turns", responses=_errors(401, 422, 503),
        summary="The user's logged turns, oldest first: reply, route, candidates, rating, signals", **v1,
    )  # fmt: skip
    def turns(
        user_id: UserId,
        agent: AgentDep,
        limit: Annotated[int | None, Query(ge=1, description="The newest n.")] = None,
    ) -> dict[str, list[dict[str, Any]]]:
        agent.store.validate_user_id(user_id)
        return {"turns": [as_json(entry) for entry in agent.turn_log.turns(user_id, limit)]}

    @app.post("/v1/users/{user_id}/reset", summary="Start a new session (the profile stays)", **v1)
    def reset(user_id: UserId, agent: AgentDep) -> dict[str, str]:
        return {"session_id": agent.reset(user_id).session.id}

    @app.get("/v1/users/{user_id}/profile", summary="What the user told about themself", **v1)
    def profile(user_id: UserId, agent: AgentDep) -> dict[str, Any]:
        return agent.state(user_id).profile

    @app.delete("/v1/users/{user_id}/profile", summary="Forget the user's profile (not the chat)", **v1)
    def forget_profile(user_id: UserId, agent: AgentDep) -> dict[str, bool]:
        agent.forget_profile(user_id)
        return {"forgotten": True}

    @app.delete("/v1/users/{user_id}", summary="Forget everything about the user", **v1)
    def forget(user_id: UserId, agent: AgentDep) -> dict[str, bool]:
        agent.forget(user_id)
        return {"forgotten": True}

    @app.get("/healthz", tags=["operations"], summary="Redis and the graph answer: 200, else 503")
    def healthz(agent: AgentDep) -> JSONResponse:
        checks: dict[str, str] = {}
        probes = {"redis": lambda: agent.services.redis.ping(), "graph": lambda: agent.services.graph.ping()}
        for name, probe in probes.items():
            try:
                probe()
                checks[name] = "ok"
            except Exception as error:  # a probe reports, it never raises
                checks[name] = masking.mask(f"down: {error}")
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (all workers)")
    def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return app


USERS = "/v1/users/"


class UserPaths:
    """A user id is one path segment, percent-encoded: `/v1/users/bob%2Fprofile` is user `bob/profile`.

    Routing sees the decoded path, where that reads as the profile of `bob`; so the user segment is
    passed on still encoded (from the raw path) and `path_user_id` decodes it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and raw.startswith(USERS.encode()):
            segment, slash, rest = raw.decode("latin-1").partition("?")[0][len(USERS) :].partition("/")
            scope = {**scope, "path": f"{USERS}{segment}{slash}{unquote(rest)}"}
        await self.app(scope, receive, send)


def path_user_id(user_id: str) -> str:
    """The user id of a `/v1/users/{user_id}` path, decoded once (see UserPaths)."""
    return unquote(user_id)


def _problem(error: dict[str, Any]) -> str:
    """One validation error in words: the field it concerns (or the body), then what is wrong."""
    if error["type"] == "json_invalid":
        return "the body is not valid JSON"
    where = ".".join(map(str, error["loc"][1:])) or "the body"
    return f"{where}: {error['msg']}"
