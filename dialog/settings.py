"""Settings: environment variables `DIALOG_*`, an optional TOML file, then defaults.

Precedence (highest first): constructor arguments, environment, `.env`, the TOML file named by
`DIALOG_CONFIG` (or `<home>/config.toml` when that exists), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "DIALOG_"
SHIPPED_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("dialog", appauthor=False))


def config_file() -> Path | None:
    """The TOML file to read, if any: `DIALOG_CONFIG`, else `<home>/config.toml` when present."""
    named = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if named:
        return Path(named).expanduser()
    home = Path(os.environ.get(f"{ENV_PREFIX}HOME") or default_home()).expanduser()
    candidate = home / "config.toml"
    return candidate if candidate.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    # --- where things live
    home: Path = Field(
        default_factory=default_home, description="Data dir: embedded server, indexes, models."
    )

    # --- services; none set means the embedded Redis+FalkorDB server in `home`
    redis_url: str | None = Field(None, description="Redis URL (redis://, rediss://, unix://).")
    redis_cluster: bool = Field(False, description="Treat redis_url as a Redis Cluster entry node.")
    falkordb_url: str | None = Field(None, description="FalkorDB URL for the knowledge graph.")
    neo4j_uri: str | None = Field(None, description="Neo4j Bolt URI; takes precedence for the graph.")
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None
    neo4j_database: str | None = None
    graph_name: str = Field("world", description="Graph (FalkorDB key / Neo4j database label space).")
    redis_timeout_s: float = Field(5.0, gt=0)

    # --- dialogue state
    key_prefix: str = Field("dialog", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    session_idle_timeout_s: float = Field(1800.0, gt=0, description="Idle time that starts a new session.")
    history_max_turns: int = Field(100, ge=1, le=10_000)
    lock_lease_s: float = Field(30.0, gt=0, description="Per-user lock lease; a crashed worker frees it.")
    lock_wait_s: float = Field(20.0, gt=0, description="How long a turn waits for the user's lock.")

    # --- policy and selection
    skill_threshold: float = Field(0.6, ge=0, le=1, description="Minimum skill confidence to route to it.")
    chat_threshold: float = Field(0.0, description="Minimum ranker score for a core-chat candidate.")

    # --- input limits
    max_message_chars: int = Field(2000, ge=1)
    max_user_id_chars: int = Field(256, ge=1)

    # --- HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    api_token: SecretStr | None = Field(None, description="Bearer token required on /v1/* when set.")

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml_path = config_file()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        sources.append(file_secret_settings)
        return tuple(sources)

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: the embedded server in `home` serves state and graph."""
        return self.redis_url is None

    def masked(self) -> dict[str, Any]:
        """Effective values for display, secrets masked."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, str) and name.endswith("_url"):
                value = mask_url_password(value)
            shown[name] = str(value) if isinstance(value, Path) else value
        return shown


def mask_url_password(url: str) -> str:
    """`redis://:secret@host` -> `redis://:********@host`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}:********@{host}" if has_password else url
