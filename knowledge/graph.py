"""GraphStore: one interface, two backends, the same parameterised Cypher.

`falkordb` (native client) is the embedded default and what CI runs; `neo4j` (official driver over
Bolt) is the production backend. Values always travel as parameters, never inside query text.
Rows come back as dicts keyed by the RETURN aliases; nodes and relationships as property dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import falkordb
import redis

from dialog.errors import ServiceUnavailable

Params = Mapping[str, Any] | None


class GraphStore(Protocol):
    backend: str

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        """Run one parameterised Cypher statement and return its rows."""
        ...

    def ping(self) -> str:
        """A short description of the server; raises ServiceUnavailable when it does not answer."""
        ...

    def close(self) -> None: ...


def _plain(value: Any) -> Any:
    if isinstance(value, falkordb.Node | falkordb.Edge):
        return dict(value.properties)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class FalkorDBStore:
    backend = "falkordb"

    def __init__(self, client: falkordb.FalkorDB, graph_name: str, where: str) -> None:
        self._db = client
        self._graph = client.select_graph(graph_name)
        self.graph_name = graph_name
        self.where = where

    @classmethod
    def connect(cls, url: str, graph_name: str, timeout_s: float = 5.0) -> FalkorDBStore:
        if url.startswith("unix://"):
            client = falkordb.FalkorDB(
                unix_socket_path=url.removeprefix("unix://"),
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
        else:
            client = falkordb.FalkorDB.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        return cls(client, graph_name, where=url)

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        try:
            result = self._graph.query(cypher, dict(params or {}))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (FalkorDB at {self.where}) is not reachable."
            ) from error
        names = [column[1] for column in result.header]
        return [dict(zip(names, map(_plain, row), strict=True)) for row in result.result_set]

    def ping(self) -> str:
        try:
            modules = self._db.connection.module_list()
        except (redis.RedisError, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (FalkorDB at {self.where}) is not reachable."
            ) from error
        versions = {module["name"]: module["ver"] for module in modules}
        if "graph" not in versions:
            raise ServiceUnavailable(f"The server at {self.where} answers but has no FalkorDB graph module.")
        return f"FalkorDB module {versions['graph']}, graph '{self.graph_name}'"

    def close(self) -> None:
        self._db.connection.close()


class Neo4jStore:
    backend = "neo4j"

    def __init__(self, uri: str, user: str, password: str | None, database: str | None) -> None:
        import neo4j  # imported here: only the production backend needs the driver loaded

        self._neo4j = neo4j
        self._driver = neo4j.GraphDatabase.driver(uri, auth=(user, password or ""))
        self._database = database
        self.where = uri

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        try:
            records, _, _ = self._driver.execute_query(
                cypher, parameters_=dict(params or {}), database_=self._database
            )
        except (self._neo4j.exceptions.ServiceUnavailable, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (Neo4j at {self.where}) is not reachable."
            ) from error
        return [{key: _plain_neo4j(value) for key, value in record.items()} for record in records]

    def ping(self) -> str:
        try:
            info = self._driver.get_server_info()
        except (self._neo4j.exceptions.Neo4jError, self._neo4j.exceptions.DriverError, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (Neo4j at {self.where}) is not reachable."
            ) from error
        return f"{info.agent} at {info.address}"

    def close(self) -> None:
        self._driver.close()


def _plain_neo4j(value: Any) -> Any:
    if hasattr(value, "items") and hasattr(value, "element_id"):
        return dict(value.items())
    if isinstance(value, list):
        return [_plain_neo4j(item) for item in value]
    return value
