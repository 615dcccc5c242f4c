"""Session metrics: conversation-turns per session (CPS) and the route mix, read from Redis.

Finished sessions are summarised in each user's `sessions` list when a new session starts; open
sessions are read from the users' states. `dialog stats` prints both.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from dialog.state.store import StateStore
from dialog_core.redis_client import redis_errors
from dialog_core.state import DialogueState, SessionSummary


@dataclass
class SessionStats:
    users: int = 0
    finished_sessions: int = 0
    open_sessions: int = 0
    turns_per_session: list[int] = field(default_factory=list)  # finished sessions only
    routes: Counter[str] = field(default_factory=Counter)  # all sessions, finished and open

    @property
    def cps_mean(self) -> float:
        return round(statistics.fmean(self.turns_per_session), 2) if self.turns_per_session else 0.0

    @property
    def cps_median(self) -> float:
        return float(statistics.median(self.turns_per_session)) if self.turns_per_session else 0.0

    def route_share(self) -> dict[str, float]:
        total = sum(self.routes.values())
        return {route: round(count / total, 4) for route, count in self.routes.most_common()} if total else {}

    def as_dict(self) -> dict[str, object]:
        return {
            "users": self.users,
            "finished_sessions": self.finished_sessions,
            "open_sessions": self.open_sessions,
            "cps_mean": self.cps_mean,
            "cps_median": self.cps_median,
            "routes": dict(self.routes.most_common()),
            "route_share": self.route_share(),
        }


def collect(store: StateStore) -> SessionStats:
    """Scan every user's state and session summaries (SCAN: no blocking of the server)."""
    stats = SessionStats()
    prefix = store.settings.key_prefix
    with redis_errors():
        for key in store.redis.scan_iter(match=f"{prefix}:{{u:*}}:state", count=500):
            stats.users += 1
            raw = store.redis.hget(key, "json")
            if raw:
                session = DialogueState.model_validate_json(raw).session
                if session.turns:
                    stats.open_sessions += 1
                    stats.routes.update(session.routes)
            for item in store.redis.lrange(key.removesuffix(":state") + ":sessions", 0, -1):
                summary = SessionSummary.model_validate_json(item)
                stats.finished_sessions += 1
                stats.turns_per_session.append(summary.turns)
                stats.routes.update(summary.routes)
    return stats
