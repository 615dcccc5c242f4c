"""`dialog doctor`: which services and models are in use, and whether each answers."""

from __future__ import annotations

from dataclasses import dataclass

from dialog.errors import DialogError
from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog.settings import Settings
from dialog.state.store import REDIS_DOWN


@dataclass(frozen=True)
class Check:
    part: str
    in_use: str
    status: str
    ok: bool


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if settings.embedded:
        server = EmbeddedServer(settings.home)
        try:
            status = server.ensure_running()
            checks.append(
                Check("embedded server", str(server.socket), f"pid {status.pid}, up {status.uptime_s}s", True)
            )
        except DialogError as error:
            return [Check("embedded server", str(server.socket), str(error), False)]
    services = Services.connect(settings)
    try:
        checks.append(_redis_check(services))
        checks.append(_graph_check(services))
        checks.extend(_agent_checks(settings, services))
    finally:
        services.close()
    return checks


def _redis_check(services: Services) -> Check:
    try:
        info = services.redis.info("server")
    except REDIS_DOWN as error:
        return Check("dialogue state (Redis)", services.redis_where, f"not reachable: {error}", False)
    version = info.get("redis_version") if isinstance(info, dict) else "cluster"
    return Check("dialogue state (Redis)", services.redis_where, f"answers (Redis {version})", True)


def _graph_check(services: Services) -> Check:
    backend = "neo4j" if services.settings.neo4j_uri else "falkordb"
    where = f"{backend} {services.graph_url}"
    try:
        return Check("knowledge graph", where, services.graph.ping(), True)
    except (DialogError, *REDIS_DOWN) as error:
        return Check("knowledge graph", where, str(error), False)


def _agent_checks(settings: Settings, services: Services) -> list[Check]:
    from dialog.agent import Agent

    try:
        agent = Agent.from_settings(settings)
    except DialogError as error:
        return [Check("agent", "default", str(error), False)]
    try:
        return [Check(component.name, component.detail, "loaded", True) for component in agent.describe()]
    finally:
        agent.close()
