"""`dialog doctor`: which services and models are in use, and whether each answers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from dialog.runtime.background import failed_loads
from dialog.runtime.embedded import EmbeddedServer
from dialog.runtime.services import Services
from dialog_core.errors import DialogError
from dialog_core.redis_client import REDIS_DOWN
from dialog_core.settings import Settings


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
        checks.append(skill_breakers_check(services))
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
    where = f"{backend} {services.graph_where}"
    try:
        return Check("knowledge graph", where, services.graph.ping(), True)
    except (DialogError, *REDIS_DOWN) as error:
        return Check("knowledge graph", where, str(error), False)


def skill_breakers_check(services: Services) -> Check:
    """The skills some worker has paused (its breaker open): informational, a paused skill is the
    agent protecting its turns, not a service that is down."""
    from skills.breaker import published

    settings = services.settings
    in_use = (
        f"{settings.skill_threads} threads; {settings.skill_breaker_timeouts} timeouts in a row "
        f"pause a skill for {settings.skill_breaker_cooldown_s:g} s"
    )
    try:
        entries = published(services.redis, settings.key_prefix)
    except REDIS_DOWN as error:
        return Check("skill circuit breakers", in_use, f"not readable: {error}", False)
    lines = []
    for entry in entries:
        if entry.until > time.time():
            when = f"paused until {time.strftime('%H:%M:%S', time.localtime(entry.until))}"
        else:
            when = "cool-down over, its next call is a trial"
        lines.append(f"{entry.skill} in {entry.worker}: {when} ({entry.reason})")
    return Check("skill circuit breakers", in_use, "; ".join(lines) or "none open", True)


def _agent_checks(settings: Settings, services: Services) -> list[Check]:
    from dialog.agent import Agent

    try:
        agent = Agent.from_settings(settings)
    except DialogError as error:
        return [Check("agent", "default", str(error), False)]
    try:
        failed = [Check(what, "loaded in the background", str(error) or type(error).__name__, False)
                  for what, error in failed_loads()]  # fmt: skip
        loaded = [Check(line.name, line.detail, "loaded", True) for line in agent.describe()]
        where = "entry point dialog.components"
        broken = [Check(f"component {b.name}", where, b.error, False) for b in agent.broken]
        return loaded + failed + broken
    finally:
        agent.close()
