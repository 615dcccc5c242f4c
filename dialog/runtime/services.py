"""Connections to the backing services, resolved from settings.

No service configured: the embedded server in `settings.home` is started (or reused) and serves
both the dialogue state (Redis keyspace) and the graph (FalkorDB). A configured service is used as
it is and nothing is started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import redis
from redis.cluster import RedisCluster

from dialog.runtime.embedded import EmbeddedServer
from dialog_core.redis_client import RedisClient
from dialog_core.services import GraphStore
from dialog_core.settings import Settings, mask_url
from knowledge.graph import FalkorDBStore, Neo4jStore

REWRITE_WAIT_S = 30.0


@dataclass
class Services:
    settings: Settings
    redis: RedisClient
    redis_where: str
    embedded: EmbeddedServer | None = None
    _graph: GraphStore | None = field(default=None, repr=False)

    @classmethod
    def connect(cls, settings: Settings) -> Services:
        embedded: EmbeddedServer | None = None
        if settings.embedded:
            embedded = EmbeddedServer(settings.home)
            embedded.ensure_running()
            url = embedded.url
        else:
            url = settings.redis_url or ""
        return cls(settings, _redis_client(url, settings), mask_url(url), embedded)

    @cached_property
    def graph_url(self) -> str:
        """Where the graph lives: Neo4j if configured, else FalkorDB (configured, or the Redis server).

        It may carry credentials: show `graph_where`, never this."""
        if self.settings.neo4j_uri:
            return self.settings.neo4j_uri
        if self.settings.falkordb_url:
            return self.settings.falkordb_url
        return self.embedded.url if self.embedded else self.settings.redis_url or ""

    @property
    def graph_where(self) -> str:
        """`graph_url` fit to show or log (credentials masked)."""
        return mask_url(self.graph_url)

    @property
    def graph(self) -> GraphStore:
        """The graph store, connected on first use."""
        if self._graph is None:
            s = self.settings
            if s.neo4j_uri:
                password = s.neo4j_password.get_secret_value() if s.neo4j_password else None
                self._graph = Neo4jStore(s.neo4j_uri, s.neo4j_user, password, s.neo4j_database)
            else:
                self._graph = FalkorDBStore.connect(self.graph_url, s.graph_name, s.redis_timeout_s)
        return self._graph

    def compact(self) -> None:
        """After a bulk write (a graph import) or a deletion: the embedded server rewrites its
        append-only file as a snapshot in the background, so its next start loads that instead of
        replaying every query (see embedded.py), and deleted data leaves the disk once the rewrite
        is done (under a second for the world graph). A rewrite already running was forked before
        the change, so this one waits for it and starts another (up to REWRITE_WAIT_S). An external
        server's persistence is its operator's business (docs/channels.md, "Erasure")."""
        if self.embedded is None:
            return
        deadline = time.monotonic() + REWRITE_WAIT_S
        while True:
            try:
                self.redis.bgrewriteaof()
                return
            except redis.ResponseError as error:
                if "in progress" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.redis.close()
        if self._graph is not None:
            self._graph.close()


def _redis_client(url: str, settings: Settings) -> RedisClient:
    options = {
        "decode_responses": True,
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "health_check_interval": 30,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)
