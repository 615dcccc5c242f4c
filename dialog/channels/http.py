"""The JSON API (FastAPI): POST /v1/chat, user state endpoints, GET /healthz.

Handlers are plain `def`s: FastAPI runs them in its thread pool, and the per-user Redis lock
serialises one user's turns across threads and worker processes.
"""

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dialog.agent import Agent
from dialog.errors import AuthError, DialogError
from dialog.settings import Settings
from dialog.turn import Emotion, Intent

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


class ChatRequest(BaseModel):
    user_id: str = Field(min_length=1)
    text: str
    explain: bool = False


class ChatResponse(BaseModel):
    reply: str
    route: str
    session_id: str
    intent: Intent
    emotion: Emotion
    trace: dict[str, Any] | None = None


def create_app(settings: Settings | None = None, agent: Agent | None = None) -> FastAPI:
    settings = settings or (agent.settings if agent else Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = agent is None
        app.state.agent = agent or Agent.from_settings(settings)
        try:
            yield
        finally:
            if own:
                app.state.agent.close()

    app = FastAPI(title="dialog", version="0.1.0", lifespan=lifespan)

    def current_agent(request: Request) -> Agent:
        return request.app.state.agent

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = settings.api_token.get_secret_value() if settings.api_token else ""
        if not expected:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
            raise AuthError("A valid bearer token is required.")

    AgentDep = Annotated[Agent, Depends(current_agent)]
    v1 = [Depends(authorised)]

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"error": "The request body is too large."}, status_code=413)
        return await call_next(request)

    @app.exception_handler(DialogError)
    async def dialog_error(request: Request, error: DialogError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=error.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": f"Invalid request: {problems}."}, status_code=422)

    @app.post("/v1/chat", response_model=ChatResponse, response_model_exclude_none=True, dependencies=v1)
    def chat(body: ChatRequest, agent: AgentDep) -> ChatResponse:
        reply = agent.respond(body.user_id, body.text, channel="api")
        return ChatResponse(
            reply=reply.text,
            route=reply.route,
            session_id=reply.session_id,
            intent=reply.intent,
            emotion=reply.emotion,
            trace=reply.trace if body.explain else None,
        )

    @app.get("/v1/users/{user_id:path}/state", dependencies=v1)
    def user_state(user_id: str, agent: AgentDep) -> dict[str, Any]:
        return agent.state(user_id).model_dump()

    @app.post("/v1/users/{user_id:path}/reset", dependencies=v1)
    def reset(user_id: str, agent: AgentDep) -> dict[str, str]:
        return {"session_id": agent.reset(user_id).session.id}

    @app.delete("/v1/users/{user_id:path}", dependencies=v1)
    def forget(user_id: str, agent: AgentDep) -> dict[str, bool]:
        agent.forget(user_id)
        return {"forgotten": True}

    @app.get("/healthz")
    def healthz(agent: AgentDep) -> JSONResponse:
        checks: dict[str, str] = {}
        probes = {"redis": lambda: agent.services.redis.ping(), "graph": lambda: agent.services.graph.ping()}
        for name, probe in probes.items():
            try:
                probe()
                checks[name] = "ok"
            except Exception as error:  # a probe reports, it never raises
                checks[name] = f"down: {error}"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503
        )

    return app
