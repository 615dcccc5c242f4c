"""The Redis client type every package passes around, and how an outage becomes one sentence."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.cluster import RedisCluster

from dialog_core.errors import ServiceUnavailable

RedisClient = redis.Redis | RedisCluster
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


@contextlib.contextmanager
def redis_errors(what: str = "The conversation store (Redis)") -> Iterator[None]:
    """Turn a Redis outage into one sentence for the user."""
    try:
        yield
    except REDIS_DOWN as error:
        raise ServiceUnavailable(f"{what} is not reachable right now; please try again shortly.") from error
