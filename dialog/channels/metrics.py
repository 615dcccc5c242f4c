"""Prometheus metrics, served at GET /metrics.

`dialog serve` runs every worker with PROMETHEUS_MULTIPROC_DIR pointing at a fresh folder
(prometheus-client's multiprocess mode): each worker writes its counts there and /metrics, answered
by whichever worker gets the scrape, adds up all of them. Without that variable (an app embedded in
another process) the process's own registry is served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from dialog_core.errors import DialogError

T = TypeVar("T")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.5, 10.0, 30.0)

TURN_SECONDS = Histogram(
    "dialog_turn_seconds", "Time to answer one message, by channel and route.", ["channel", "route"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
TURN_ERRORS = Counter("dialog_turn_errors_total", "Messages that ended in an error.", ["channel", "error"])
HTTP_REQUESTS = Counter(
    "dialog_http_requests_total", "HTTP requests by method, route and status.", ["method", "path", "status"]
)
HTTP_SECONDS = Histogram(
    "dialog_http_request_seconds", "HTTP request duration by route.", ["path"], buckets=LATENCY_BUCKETS
)
REJECTED = Counter("dialog_rejected_requests_total", "Requests refused before any work.", ["reason"])
RATE_LIMITED = Counter("dialog_rate_limited_total", "Messages over the per-user rate limit.", ["channel"])
DEDUPE_HITS = Counter("dialog_wechat_dedupe_hits_total", "WeChat retries of a message already received.")
DEFERRED = Counter("dialog_wechat_deferred_total", "WeChat turns past the reply deadline, answered by push.")
PUSHES = Counter("dialog_wechat_pushes_total", "Customer-service API pushes by outcome.", ["outcome"])


def observed_turn(channel: str, respond: Callable[[], T], route_of: Callable[[T], str]) -> T:
    """Run one turn, recording its latency by route (or the error it ended in)."""
    started = time.perf_counter()
    try:
        result = respond()
    except DialogError as error:
        TURN_ERRORS.labels(channel, type(error).__name__).inc()
        raise
    except Exception:
        TURN_ERRORS.labels(channel, "unexpected").inc()
        raise
    TURN_SECONDS.labels(channel, route_of(result)).observe(time.perf_counter() - started)
    return result


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, summed over the workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
