"""What a component may use of the backing services: Redis (the dialogue state's keyspace) and the
graph store. `dialog.runtime.services.Services` is the implementation the agent connects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dialog_core.redis_client import RedisClient
    from dialog_core.settings import Settings

Params = Mapping[str, Any] | None


class GraphStore(Protocol):
    backend: str
    batch_rows: int  # most rows one write statement carries
    batch_bytes: int  # most (JSON-estimated) parameter bytes one write statement carries

    def query(self, cypher: str, params: Params = None) -> list[dict[str, Any]]:
        """Run one parameterised Cypher statement and return its rows."""
        ...

    def ensure_index(self, label: str, prop: str) -> None:
        """Create a node property index unless it exists."""
        ...

    def ping(self) -> str:
        """A short description of the server; raises ServiceUnavailable when it does not answer."""
        ...

    def close(self) -> None: ...


class Services(Protocol):
    settings: Settings
    redis: RedisClient

    @property
    def graph(self) -> GraphStore:
        """The graph store, connected on first use."""
        ...

    @property
    def graph_where(self) -> str:
        """Where the graph lives, fit to show (credentials masked)."""
        ...

    def compact(self) -> None:
        """After a bulk write or a deletion: let the server rewrite its persistence files."""
        ...

    def close(self) -> None: ...
