"""GraphStore: one interface, two backends, the same parameterised Cypher.

`falkordb` (native client) is the embedded default and what CI runs; `neo4j` (official driver over
Bolt) is the production backend. Values always travel as parameters, never inside query text.
Rows come back as dicts keyed by the RETURN aliases; nodes and relationships as property dicts.

Labels, relationship types and property names cannot be parameters in Cypher: the few statements
that need them in the text (index creation, importers) pass them through `identifier()` first.
Writers send rows in batches bounded by `batch_rows` and `batch_bytes` (see `batches`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import falkordb
import redis

from dialog_core.errors import DialogError, InvalidInput, ServiceUnavailable
from dialog_core.services import Params
from dialog_core.settings import mask_url

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
Row = TypeVar("Row")  # what a statement's $rows parameter holds: a property map, an id...


class GraphQueryError(DialogError):
    """The graph server refused a statement (bad data or an unsupported Cypher feature)."""

    http_status = 500


class InvalidName(InvalidInput):
    """A label, relationship type or property name that is not a plain identifier."""


def identifier(name: str) -> str:
    """`name` back-quoted for Cypher text, if it is a plain identifier; else a one-sentence error."""
    if not _IDENTIFIER.match(name):
        raise InvalidName(
            f"'{name}' is not a valid graph name (letters, digits and _ only, not starting with a digit)."
        )
    return f"`{name}`"


def batches(rows: Iterable[Row], max_rows: int, max_bytes: int) -> Iterator[list[Row]]:
    """Consecutive groups of rows, each at most `max_rows` long and about `max_bytes` big."""
    batch: list[Row] = []
    size = 0
    for row in rows:
        row_size = len(json.dumps(row, ensure_ascii=False, default=str).encode())
        if batch and (len(batch) >= max_rows or size + row_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def _plain(value: Any) -> Any:
    if isinstance(value, falkordb.Node | falkordb.Edge):
        return dict(value.properties)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


class FalkorDBStore:
    backend = "falkordb"

    def __init__(
        self,
        client: falkordb.FalkorDB,
        graph_name: str,
        where: str,
        batch_rows: int = 1000,
        batch_bytes: int = 1_000_000,
    ) -> None:
        self._db = client
        self._graph = client.select_graph(graph_name)
        self.graph_name = graph_name
        self.where = where
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes

    @classmethod
    def connect(cls, url: str, graph_name: str, timeout_s: float = 5.0) -> FalkorDBStore:
        """The client asks the server what it is (sentinel, cluster) as it is made: that can fail."""
        try:
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
        except (
            redis.RedisError,
            OSError,
            KeyError,
        ) as error:  # KeyError: a Redis Cluster, which has no graph
            raise ServiceUnavailable(
                f"The knowledge graph (FalkorDB at {mask_url(url)}) is not reachable."
            ) from error
        return cls(client, graph_name, where=mask_url(url))

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        try:
            result = self._graph.query(cypher, dict(params or {}))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (FalkorDB at {self.where}) is not reachable."
            ) from error
        except redis.ResponseError as error:
            raise GraphQueryError(f"The knowledge graph refused a statement: {error}.") from error
        names = [column[1] for column in result.header]
        return [dict(zip(names, map(_plain, row), strict=True)) for row in result.result_set]

    def ensure_index(self, label: str, prop: str) -> None:
        try:
            self.query(f"CREATE INDEX FOR (n:{identifier(label)}) ON (n.{identifier(prop)})")
        except GraphQueryError as error:
            if "already indexed" not in str(error):
                raise

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

    def __init__(
        self,
        uri: str,
        user: str,
        password: str | None,
        database: str | None,
        *,
        batch_rows: int = 500,
        batch_bytes: int = 1_000_000,
        retry_s: float = 5.0,
    ) -> None:
        import neo4j  # imported here: only the production backend needs the driver loaded

        self._neo4j = neo4j
        self._driver = neo4j.GraphDatabase.driver(
            uri, auth=(user, password or ""), max_transaction_retry_time=retry_s
        )
        self._database = database
        self.where = mask_url(uri)
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        try:
            records, _, _ = self._driver.execute_query(
                cypher, parameters_=dict(params or {}), database_=self._database
            )
        except (self._neo4j.exceptions.ServiceUnavailable, OSError) as error:
            raise ServiceUnavailable(
                f"The knowledge graph (Neo4j at {self.where}) is not reachable."
            ) from error
        except self._neo4j.exceptions.Neo4jError as error:
            raise GraphQueryError(f"The knowledge graph refused a statement: {error.message}.") from error
        return [{key: _plain_neo4j(value) for key, value in record.items()} for record in records]

    def ensure_index(self, label: str, prop: str) -> None:
        target = f"FOR (n:{identifier(label)}) ON (n.{identifier(prop)})"
        try:
            self.query(f"CREATE INDEX IF NOT EXISTS {target}")
        except GraphQueryError:
            # Servers that speak Bolt without Neo4j 5's IF NOT EXISTS (FalkorDB's Bolt endpoint in the
            # contract tests): create it plainly; the error for an existing index is not told apart.
            with contextlib.suppress(GraphQueryError):
                self.query(f"CREATE INDEX {target}")

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
    if isinstance(value, Mapping):
        return {key: _plain_neo4j(item) for key, item in value.items()}
    return value
