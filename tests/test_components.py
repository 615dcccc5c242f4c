"""Components: the registry the agent, `dialog setup`, `dialog doctor` and the CLI loop over, and a
third-party component (tests/sample_component) installed with pip that plugs in without editing the engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialog.agent import Agent
from dialog.runtime.services import Services
from dialog_core.component import AgentParts, load_components, setup_steps
from dialog_core.errors import DialogError
from dialog_core.settings import Settings
from dialog_core.turn import HandlerResult, Turn
from skills.registry import SkillRegistry
from tests.conftest import run_dialog

SAMPLE = Path(__file__).parent / "sample_component"
BUILT_IN = ["knowledge", "skills", "understanding", "core chat", "dialogue", "feedback"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample component installed by pip into a folder of its own (put on the path by each test)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(SAMPLE)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return target


@pytest.fixture
def with_sample(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(installed))
    yield installed


class Stage:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, turn: Turn) -> None:
        return None


class Answer:
    def handle(self, turn: Turn, route: str) -> HandlerResult | None:
        return None


def test_the_built_in_components_load_in_order() -> None:
    components, broken = load_components()
    assert [component.name for component in components] == BUILT_IN
    assert broken == []
    steps = [step.name for step in setup_steps(components)]
    assert steps[0] == "knowledge graph (world)" and steps[-1] == "core chat: ranker"


def test_stages_run_by_phase_then_in_the_order_added(settings: Settings) -> None:
    services = Services.connect(settings)
    parts = AgentParts(settings, services)
    try:
        parts.add_stage(Stage("emotion"))  # "signals" by default
        parts.add_stage(Stage("linker"), "entities")
        parts.add_stage(Stage("normalize"), "read")
        parts.add_stage(Stage("intent"), "classify")
        parts.add_stage(Stage("language"), "read")
        order = [stage.name for stage in parts.stages()]
        assert order == ["normalize", "language", "linker", "intent", "emotion"]
    finally:
        services.close()


def test_two_handlers_for_one_route_and_a_missing_part_are_errors(settings: Settings) -> None:
    services = Services.connect(settings)
    parts = AgentParts(settings, services)
    try:
        parts.add_handler("chitchat", Answer())
        with pytest.raises(DialogError, match="Two components handle the route 'chitchat'"):
            parts.add_handler("chitchat", Answer())
        with pytest.raises(DialogError, match="No component provides SkillRegistry"):
            parts.need(SkillRegistry)
        first, second = SkillRegistry(), SkillRegistry()
        parts.share(SkillRegistry, first)
        parts.share(SkillRegistry, second)  # the first one wins: a caller's choice comes before the default
        assert parts.need(SkillRegistry) is first
    finally:
        services.close()


def test_an_installed_component_plugs_into_the_agent(
    with_sample: Path, settings: Settings, user_id: str
) -> None:
    components, broken = load_components()
    assert [component.name for component in components] == [*BUILT_IN, "sample"]
    assert [entry.name for entry in broken] == ["broken"]
    assert "NoSuchComponent" in broken[0].error

    agent = Agent.from_settings(settings, skills=SkillRegistry())
    try:
        assert agent.stages[-1].name == "sample_words"  # a "signals" stage of the last component
        reply = agent.respond(user_id, "I like green tea very much")
        assert reply.trace["sample_words"] == 6
        assert ("sample component", "counts the words of each message") in [
            (line.name, line.detail) for line in agent.describe()
        ]
        assert [entry.name for entry in agent.broken] == ["broken"]
    finally:
        agent.close()

    step = next(step for step in setup_steps(components) if step.name == "sample: marker")
    services = Services.connect(settings)
    try:
        assert step.run(settings, services) == "marker written"
        assert step.ready(settings, services)
    finally:
        services.close()


def test_the_cli_lists_and_runs_an_installed_components_commands(installed: Path, home: Path) -> None:
    env = {"PYTHONPATH": str(installed), "DIALOG_HOME": str(home)}
    listed = run_dialog("--help", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "sample" in listed.stdout and "A sample third-party component." in listed.stdout
    ran = run_dialog("sample", "hello", "--name", "Ada", env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello, Ada, from the sample component"
    plain = run_dialog("--help", env={"DIALOG_HOME": str(home)})
    assert "sample" not in plain.stdout


def test_doctor_names_a_component_that_failed_to_load(installed: Path, home: Path) -> None:
    doctor = run_dialog("doctor", env={"PYTHONPATH": str(installed), "DIALOG_HOME": str(home)}, timeout=300)
    assert doctor.returncode == 1  # a broken component is a failed check
    assert "component broken" in doctor.stdout and "NoSuchComponent" in doctor.stdout
    assert "sample component" in doctor.stdout


def test_core_chat_gets_the_knowledge_components_facts(world_settings: Settings, user_id: str) -> None:
    """Components share by type: core chat's KG candidates come from the fact source knowledge shares."""
    agent = Agent.from_settings(world_settings, skills=SkillRegistry())
    try:
        described = {line.name: line.detail for line in agent.describe()}
        assert "kg" in described["core chat generators"].split(", ")
        reply = agent.respond(user_id, "I have always wanted to visit Kenya")
        assert "generate.kg" in reply.trace["timings_ms"]  # the generator ran...
        assert "generator_error.kg" not in reply.trace  # ...and did not fail
        assert any(c["source"] == "kg" and "Kenya" in c["text"] for c in reply.trace["candidates"])
    finally:
        agent.close()
