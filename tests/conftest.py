"""Fixtures: a real embedded Redis+FalkorDB server in a temporary data dir, and agents on it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# A real Neo4j for the graph store contract tests, if one is given (tests/test_kg_store.py).
REAL_NEO4J = {key: os.environ.get(f"DIALOG_NEO4J_{key}") for key in ("URI", "USER", "PASSWORD")}

# The suite must not pick up a developer's own configuration.
for name in [key for key in os.environ if key.startswith("DIALOG_")]:
    del os.environ[name]

from dialog.agent import Agent  # noqa: E402
from dialog.chat import training  # noqa: E402
from dialog.chat.assembly import Parts  # noqa: E402
from dialog.chat.corpus import Splitter, default_corpus_files  # noqa: E402
from dialog.runtime.embedded import EmbeddedServer  # noqa: E402
from dialog.runtime.services import Services  # noqa: E402
from dialog_core.settings import Settings  # noqa: E402
from knowledge import Knowledge, build_knowledge  # noqa: E402
from skills.registry import SkillRegistry  # noqa: E402

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("home")
    yield path
    EmbeddedServer(path).stop()


@pytest.fixture(scope="session")
def settings(home: Path) -> Settings:
    return Settings(home=home)


@pytest.fixture(scope="session")
def world_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A data dir of its own whose graph holds the imported world graph (imported once a session)."""
    from dialog.runtime.services import Services
    from knowledge.world import import_world

    path = tmp_path_factory.mktemp("world")
    world = Settings(home=path)
    services = Services.connect(world)
    try:
        import_world(services.graph)
    finally:
        services.close()
    yield world
    EmbeddedServer(path).stop()


@pytest.fixture(scope="module")
def services(world_settings: Settings) -> Iterator[Services]:
    connected = Services.connect(world_settings)
    yield connected
    connected.close()


@pytest.fixture(scope="module")
def knowledge(world_settings: Settings, services: Services) -> Knowledge:
    """KBQA, the linker and the facts over the world graph."""
    return build_knowledge(world_settings, services)


@pytest.fixture(scope="session")
def agent(settings: Settings) -> Iterator[Agent]:
    built = Agent.from_settings(settings, skills=SkillRegistry())
    yield built
    built.close()


@pytest.fixture
def user_id() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_home(tmp_path: Path) -> Iterator[Path]:
    """A data dir with its own embedded server, for tests that stop or crash it."""
    yield tmp_path
    EmbeddedServer(tmp_path).stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_dialog(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "dialog"), *args], env={**os.environ, **env}, input=input,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


class ServeProcess:
    """`dialog serve` in a subprocess, reached over a real socket."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BIN / "dialog"), "serve", "--port", str(self.port)],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180  # workers load models: slow on a busy 2-core machine
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dialog serve exited: {self.process.stdout.read() if self.process.stdout else ''}"
                )
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("dialog serve did not start")

    def stop(self) -> str:
        self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        return output


@pytest.fixture
def serve(home: Path) -> Iterator[callable]:
    started: list[ServeProcess] = []

    def start(**env: str) -> ServeProcess:
        process = ServeProcess({"DIALOG_HOME": str(home), **env})
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


# ---------------------------------------------------------------------- core chat's small real home
# (tests/test_chat.py, tests/test_features.py: built once a session)

# A small bilingual slice of the shipped chatterbot-corpus, plus operator files in each format.
SLICE = ["english/greetings.yml", "english/food.yml", "english/movies.yml", "english/sports.yml",
         "english/money.yml", "chinese/greetings.yml", "chinese/movies.yml", "chinese/money.yml"]  # fmt: skip
OPERATOR_JSONL = [
    {"query": "What is your favourite colour?", "response": "Blue, like a clear summer sky."},
    {"query": "你最喜欢什么颜色？", "response": "我最喜欢蓝色，像晴朗的天空。"},
    {
        "turns": [
            "Do you play chess?",
            "I do, I love the endgame.",
            "Who wins?",
            "Usually the one who blundered last.",
        ]
    },
]
OPERATOR_CSV = "query,response,category\nWhat is the best pizza topping?,Mushrooms and olives.,food\n"


def slice_files() -> list[Path]:
    root = next(p for p in default_corpus_files() if p.parent.name == "english").parent.parent
    return [root / name for name in SLICE]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpora")
    (path / "mine.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in OPERATOR_JSONL))
    (path / "mine.csv").write_text(OPERATOR_CSV)
    return path


@pytest.fixture(scope="session")
def chat_home(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[Path]:
    """A data dir with the small index and a ranker trained on it (no generator: fast)."""
    home = tmp_path_factory.mktemp("chat-home")
    settings = Settings(home=home, chat_generator_enabled=False, chat_seed=3)
    files = [*slice_files(), corpus_dir / "mine.jsonl", corpus_dir / "mine.csv"]
    training.build_index(settings, files, include_default=False, splitter=Splitter(heldout=0.2, ranker=0.3))
    training.train_ranker(settings, max_train_queries=60)
    yield home
    EmbeddedServer(home).stop()


@pytest.fixture(scope="session")
def parts(chat_home: Path) -> Parts:
    return Parts(Settings(home=chat_home, chat_generator_enabled=False))
