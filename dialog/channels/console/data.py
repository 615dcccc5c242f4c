"""What the console shows, gathered from Redis (the turn log, the session summaries and the users'
states, through `dialog.stats` for the figures `dialog stats` prints too) and from the server's
Prometheus metrics. Days are UTC days."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from prometheus_client.parser import text_string_to_metric_families

from dialog import stats
from dialog.channels import metrics
from dialog.feedback.log import TurnLog, TurnLogEntry
from dialog.state.store import StateStore
from dialog_core.redis_client import redis_errors
from dialog_core.state import SessionSummary
from dialog_core.turn import EDITORIAL, TOPIC

FALLBACK_ROUTES = frozenset({EDITORIAL, TOPIC})  # the agent had nothing better to say
RATINGS = ("good", "bad", "unrated")
SIGNALS = ("continued", "rephrased", "left", "open")
MAX_USERS = 500  # listed on the users page, the most recently seen first


@dataclass(frozen=True)
class LatencyDay:
    day: date
    turns: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class LiveLatency:
    """The turn latency Prometheus has counted since the server started (estimated from its buckets)."""

    turns: int
    p50_ms: float
    p95_ms: float


@dataclass
class Overview:
    sessions: stats.SessionStats
    turns: int = 0
    ratings: Counter[str] = field(default_factory=Counter)  # good / bad / unrated
    signals: Counter[str] = field(default_factory=Counter)  # continued / rephrased / left / open
    cps_by_day: dict[date, float] = field(default_factory=dict)
    fallback_by_day: dict[date, float] = field(default_factory=dict)
    latency_by_day: list[LatencyDay] = field(default_factory=list)
    live_latency: LiveLatency | None = None


@dataclass(frozen=True)
class UserRow:
    user_id: str
    turns: int
    sessions: int
    last_seen: float
    good: int
    bad: int


@dataclass(frozen=True)
class SessionTurns:
    session_id: str
    turns: list[TurnLogEntry]

    @property
    def started_at(self) -> float:
        return self.turns[0].at


def overview(store: StateStore, log: TurnLog, idle_timeout_s: float, now: float) -> Overview:
    found = Overview(sessions=stats.collect(store), cps_by_day=cps_by_day(finished_sessions(store)))
    fallbacks: dict[date, list[bool]] = defaultdict(list)
    latencies: dict[date, list[float]] = defaultdict(list)
    for entry in log.all_turns():
        found.turns += 1
        found.ratings[rating_of(entry)] += 1
        found.signals[signal_of(entry, now, idle_timeout_s)] += 1
        day = day_of(entry.at)
        fallbacks[day].append(entry.route in FALLBACK_ROUTES)
        latencies[day].append(entry.latency_ms)
    found.fallback_by_day = {day: sum(flags) / len(flags) for day, flags in sorted(fallbacks.items())}
    found.latency_by_day = [
        LatencyDay(day, len(values), percentile(values, 0.5), percentile(values, 0.95))
        for day, values in sorted(latencies.items())
    ]
    found.live_latency = live_latency()
    return found


def finished_sessions(store: StateStore) -> Iterator[SessionSummary]:
    """Every user's finished-session summaries (SCAN, as `dialog.stats` reads them)."""
    with redis_errors():
        for key in store.redis.scan_iter(match=f"{store.settings.key_prefix}:{{u:*}}:sessions", count=500):
            for item in store.redis.lrange(key, 0, -1):
                yield SessionSummary.model_validate_json(item)


def cps_by_day(summaries: Iterable[SessionSummary]) -> dict[date, float]:
    """Mean turns per finished session, by the day the session ended."""
    turns: dict[date, list[int]] = defaultdict(list)
    for summary in summaries:
        turns[day_of(summary.ended_at)].append(summary.turns)
    return {day: statistics.fmean(values) for day, values in sorted(turns.items())}


def users(log: TurnLog, limit: int = MAX_USERS) -> list[UserRow]:
    rows = []
    for user_id in log.users():
        turns = log.turns(user_id)
        if turns:
            ratings = Counter(entry.rating for entry in turns)
            rows.append(
                UserRow(
                    user_id,
                    len(turns),
                    len({entry.session_id for entry in turns}),
                    turns[-1].at,
                    ratings[1],
                    ratings[-1],
                )
            )
    return sorted(rows, key=lambda row: row.last_seen, reverse=True)[:limit]


def sessions_of(log: TurnLog, user_id: str) -> list[SessionTurns]:
    """The user's logged turns by session, the newest session first (its turns in order)."""
    by_session: dict[str, list[TurnLogEntry]] = defaultdict(list)
    for entry in log.turns(user_id):
        by_session[entry.session_id].append(entry)
    sessions = [SessionTurns(session_id, turns) for session_id, turns in by_session.items()]
    return sorted(sessions, key=lambda session: session.started_at, reverse=True)


def rating_of(entry: TurnLogEntry) -> str:
    return {1: "good", -1: "bad"}.get(entry.rating or 0, "unrated")


def signal_of(entry: TurnLogEntry, now: float, idle_timeout_s: float) -> str:
    """What the user did next: continued, rephrased, left (the session ended), or nothing yet (open)."""
    if entry.rephrased:
        return "rephrased"
    if entry.next_gap_s is not None:
        return "continued"
    return "left" if entry.left(now, idle_timeout_s) else "open"


def day_of(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (0 < q <= 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def live_latency() -> LiveLatency | None:
    """p50/p95 of `dialog_turn_seconds` over all channels and routes (all workers), or None when
    nothing is counted yet or the metrics cannot be read."""
    try:
        exposition, _ = metrics.exposition()
        buckets: defaultdict[float, float] = defaultdict(float)
        for family in text_string_to_metric_families(exposition.decode()):
            if family.name == "dialog_turn_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_bucket"):
                        buckets[float(sample.labels["le"])] += sample.value
    except (OSError, ValueError):  # a worker's metrics file half-written, or gone
        return None
    cumulative = sorted(buckets.items())
    total = int(cumulative[-1][1]) if cumulative else 0
    if not total:
        return None
    return LiveLatency(
        total, bucket_quantile(cumulative, 0.5) * 1000, bucket_quantile(cumulative, 0.95) * 1000
    )


def bucket_quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    """A quantile from cumulative histogram buckets (upper bound, count), interpolated within its
    bucket as Prometheus's histogram_quantile does; one in the +Inf bucket is the last finite bound."""
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 0.0)
        lower, below = bound, count
    return lower
