"""The operator console's pages under /console: server-rendered HTML (Jinja2, autoescaped: what
users wrote is shown as text, never as markup), forms instead of scripts, charts as inline SVG.

Off unless a token is configured (404, saying how to turn it on); without a valid token, 401 and the
login form. A user id is one path segment, percent-encoded (the `path` converter lets one hold `/`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from dialog.agent import Agent
from dialog.channels.console import charts, data
from dialog.channels.console.auth import COOKIE, SESSION_S, ConsoleAuth
from dialog_core.errors import DialogError
from dialog_core.settings import Settings

PREFIX = "/console"
OFF = "The operator console is off: set DIALOG_CONSOLE_TOKEN (or DIALOG_API_TOKEN) to turn it on."
HEADERS = {
    # No script runs here at all; styles are the stylesheet and the charts' inline SVG styles.
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"  # NaN: not computed


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


TEMPLATES = Environment(
    loader=PackageLoader("dialog.channels.console", "templates"), autoescape=True, undefined=StrictUndefined
)
TEMPLATES.filters.update(when=_when, number=_number, pretty=_pretty, urlpart=lambda v: quote(v, safe=""))
STYLESHEET = (files("dialog.channels.console") / "static" / "console.css").read_text(encoding="utf-8")


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(prefix=PREFIX, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def off() -> HTMLResponse:
    return page("message.html", 404, title="Console off", message=OFF)


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the console's forms post nothing else)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[-1] for name, values in parse_qs(body, keep_blank_values=True).items()}


Form = Annotated[dict[str, str], Depends(form_fields)]


def console_router(settings: Settings) -> APIRouter:
    auth = ConsoleAuth(settings)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def guarded(request: Request, respond: Callable[[Agent], Response]) -> Response:
        """The page for an operator; 404 while the console is off, 401 (the login form) without a
        valid token, and a store's refusal or outage as a page saying so."""
        if not auth.on:
            return off()
        if not auth.allows(request):
            return login_page(request.url.path if request.method == "GET" else PREFIX, 401)
        try:
            return respond(request.app.state.agent)
        except DialogError as error:
            return page("message.html", error.http_status, title="Not done", message=str(error))

    def login_page(next_path: str, status: int, failed: bool = False) -> HTMLResponse:
        response = page("login.html", status, next_path=next_path, failed=failed)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="dialog console"'
        return response

    @router.get("")
    def overview(request: Request) -> Response:
        def respond(agent: Agent) -> Response:
            found = data.overview(agent.store, agent.turn_log, settings.session_idle_timeout_s, time.time())
            drawn = {
                "cps": charts.cps_over_time(found.cps_by_day),
                "turns_per_session": charts.turns_per_session(found.sessions.turns_per_session),
                "routes": charts.route_mix(found.sessions.routes),
                "fallback": charts.fallback_share(found.fallback_by_day),
                "feedback": charts.feedback_share(found.ratings, found.signals),
                "latency": charts.latency(found.latency_by_day, found.live_latency),
            }
            svg = {name: Markup(chart) for name, chart in drawn.items()}  # drawn by matplotlib: markup
            return page("overview.html", found=found, charts=svg)

        return guarded(request, respond)

    @router.get("/users")
    def users(request: Request) -> Response:
        return guarded(
            request, lambda agent: page("users.html", users=data.users(agent.turn_log), limit=data.MAX_USERS)
        )

    @router.get("/users/{user_id:path}")
    def user(request: Request, user_id: str) -> Response:
        def respond(agent: Agent) -> Response:
            agent.store.validate_user_id(user_id)
            sessions = data.sessions_of(agent.turn_log, user_id)
            return page("user.html", user_id=user_id, sessions=sessions)

        return guarded(request, respond)

    @router.post("/users/{user_id:path}/turns/{turn_id}/rate")
    def rate(request: Request, user_id: str, turn_id: str, form: Form) -> Response:
        """An operator's rating ("good" is what `dialog corpus add-from-feedback` takes into the
        corpus), then back to the turn."""

        def respond(agent: Agent) -> Response:
            agent.store.validate_user_id(user_id)
            agent.turn_log.rate(
                user_id,
                turn_id,
                _integer(form.get("rating", "")),
                form.get("comment", ""),
                rated_by="operator",
            )
            back = f"{PREFIX}/users/{quote(user_id, safe='')}#turn-{turn_id}"
            return RedirectResponse(back, status_code=303, headers=HEADERS)

        return guarded(request, respond)

    @router.get("/login")
    def login_form(next: str = PREFIX) -> Response:
        if not auth.on:
            return off()
        return login_page(_inside(next), 200)

    @router.post("/login")
    def login(request: Request, form: Form) -> Response:
        if not auth.on:
            return off()
        next_path = _inside(form.get("next", PREFIX))
        if not auth.valid_token(form.get("token", "")):
            return login_page(next_path, 401, failed=True)
        response = RedirectResponse(next_path, status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            auth.cookie_value(),
            max_age=SESSION_S,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @router.get("/console.css")
    def stylesheet() -> Response:
        if not auth.on:
            return off()
        return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    return router


def _inside(path: str) -> str:
    """A page of the console to go back to after logging in (never another site)."""
    return path if path.startswith(PREFIX) and not path.startswith("//") and "\\" not in path else PREFIX


def _integer(text: str) -> int:
    """The form's number, or 0 (which no rating is) when it is not one."""
    try:
        return int(text)
    except ValueError:
        return 0
