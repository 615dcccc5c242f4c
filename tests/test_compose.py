"""docker-compose.yml and the Dockerfile agree with the settings (no Docker engine here to run them)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from dialog_core.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_app_redis_and_neo4j() -> None:
    assert set(COMPOSE["services"]) == {"app", "redis", "neo4j"}
    assert set(COMPOSE["services"]["app"]["depends_on"]) == {"redis", "neo4j"}


def test_every_app_variable_is_a_setting_and_points_at_the_compose_services() -> None:
    env = COMPOSE["services"]["app"]["environment"]
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    assert env["DIALOG_REDIS_URL"].startswith("redis://redis:6379")
    assert env["DIALOG_NEO4J_URI"] == "bolt://neo4j:7687"
    assert int(re.search(r":-(\d+)", env["DIALOG_WORKERS"]).group(1)) > 1  # several workers by default


def test_redis_persists_with_aof_and_neo4j_5_takes_auth_from_the_environment() -> None:
    redis = COMPOSE["services"]["redis"]
    assert (
        "--appendonly" in redis["command"]
        and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    )
    neo4j = COMPOSE["services"]["neo4j"]
    assert neo4j["image"].split(":")[1].startswith("5")
    assert "${NEO4J_PASSWORD" in neo4j["environment"]["NEO4J_AUTH"]
    assert "${NEO4J_PASSWORD" in COMPOSE["services"]["app"]["environment"]["DIALOG_NEO4J_PASSWORD"]
    for service in COMPOSE["services"].values():
        assert any(volume.endswith("/data") for volume in service["volumes"])
    assert set(COMPOSE["volumes"]) == {"app-data", "redis-data", "neo4j-data"}


def test_the_dockerfile_pins_cpu_torch_and_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in dockerfile and "whl/cpu" in dockerfile
    assert "pip install -e ." in dockerfile
    for folder in ("dialog", "knowledge", "skills", "data"):
        assert f"COPY {folder} " in dockerfile
