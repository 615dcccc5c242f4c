"""The skill API on a real agent: sync and async skills, slots set through SkillResult only, errors
and hangs contained, scoring under a time limit, discovery from entry points and the skills folder,
enable/disable settings, and a scaffolded skill that needs nothing but `skills`."""

from __future__ import annotations

import ast
import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from dialog.agent import Agent
from dialog.testing import package_skills, skill_agent
from dialog_core.settings import Settings
from skills import AnySkill, AsyncSkill, Skill, SkillResult, Turn
from skills.registry import SkillRegistry
from tests.conftest import run_dialog

TIMEOUT_S = 0.5


class EchoSkill(Skill):
    name = "echo"
    intents: ClassVar[dict[str, list[str]]] = {"echo": ["echo this", "重复这句话"]}

    def can_handle(self, turn: Turn) -> float:
        return 0.9 if turn.nlu.normalized.startswith("echo ") else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        return SkillResult(turn.nlu.normalized.removeprefix("echo "), slots={"echoed": True})


class AsyncShoutSkill(AsyncSkill):
    """An async skill: its methods are coroutines."""

    name = "shout"

    async def can_handle(self, turn: Turn) -> float:
        await asyncio.sleep(0)
        return 0.9 if turn.nlu.normalized.startswith("shout ") else 0.0

    async def handle(self, turn: Turn) -> SkillResult:
        await asyncio.sleep(0.01)
        self.memory(turn)["shouts"] = self.memory(turn).get("shouts", 0) + 1
        return SkillResult(turn.nlu.normalized.removeprefix("shout ").upper(), messages=("!!",))


class AsyncQuizSkill(AsyncSkill):
    """Keeps the conversation while it waits for an answer; says where it was when resumed."""

    name = "quiz"

    async def can_handle(self, turn: Turn) -> float:
        if self.peek(turn).get("asked"):
            return 0.5
        return 0.9 if turn.nlu.normalized == "quiz me" else 0.0

    async def handle(self, turn: Turn) -> SkillResult:
        memory = self.memory(turn)
        if not memory.get("asked"):
            memory["asked"] = True
            return SkillResult("What is 2 + 2?", done=False)
        memory.clear()
        return SkillResult("Right!" if turn.nlu.normalized == "4" else "No, 4.")

    async def resume(self, turn: Turn) -> str | None:
        await asyncio.sleep(0)
        return "Back to the quiz: what is 2 + 2?"


class ColourSkill(Skill):
    """Sets and clears a slot the one way there is: in its SkillResult."""

    name = "colour"

    def can_handle(self, turn: Turn) -> float:
        return 0.9 if turn.nlu.normalized.startswith(("my colour is ", "forget my colour")) else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        colour = turn.nlu.normalized.removeprefix("my colour is ")
        if colour.startswith("forget"):
            return SkillResult("Forgotten.", slots={"colour": None})
        return SkillResult(f"Noted: {colour}.", slots={"colour": colour})


class SlotWriterSkill(Skill):
    """Writes turn.state.slots itself, which a skill may not do."""

    name = "slot_writer"

    def can_handle(self, turn: Turn) -> float:
        return 0.9 if turn.nlu.normalized.startswith("write the slot") else 0.0

    def handle(self, turn: Turn) -> SkillResult | None:
        turn.state.slots["colour"] = "written directly"
        if turn.nlu.normalized.endswith("and decline"):
            return None
        return SkillResult("written")


class CrashingSkill(Skill):
    name = "crashing"

    def can_handle(self, turn: Turn) -> float:
        return 0.95 if "crash" in turn.nlu.normalized else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        turn.state.slots["half"] = "written"
        raise RuntimeError("boom")


class HangingSkill(Skill):
    """Sleeps past the time limit, then writes to the state it was given (which must be lost)."""

    name = "hanging"

    def can_handle(self, turn: Turn) -> float:
        return 0.95 if "hang" in turn.nlu.normalized else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        time.sleep(TIMEOUT_S * 3)
        turn.state.slots["late"] = "written after the timeout"
        return SkillResult("too late")


class HangingAsyncSkill(AsyncSkill):
    name = "hanging_async"
    cancelled = False

    async def can_handle(self, turn: Turn) -> float:
        return 0.95 if "stall" in turn.nlu.normalized else 0.0

    async def handle(self, turn: Turn) -> SkillResult:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            HangingAsyncSkill.cancelled = True
            raise
        return SkillResult("never")


class BadScoresSkill(Skill):
    """can_handle raises, hangs or returns nonsense depending on the message."""

    name = "bad_scores"

    def can_handle(self, turn: Turn) -> float:
        text = turn.nlu.normalized
        if "raise" in text:
            raise ValueError("cannot score")
        if "slow" in text:
            time.sleep(TIMEOUT_S * 4)
        return 7.0 if "seven" in text else 0.0

    def handle(self, turn: Turn) -> SkillResult:
        return SkillResult("bad_scores answered")


@pytest.fixture(scope="module")
def api_agent(home: Path) -> Iterator[Agent]:
    settings = Settings(home=home, skill_timeout_s=TIMEOUT_S, skill_score_timeout_s=TIMEOUT_S)
    skills: list[AnySkill] = [
        EchoSkill(),
        AsyncShoutSkill(),
        AsyncQuizSkill(),
        ColourSkill(),
        SlotWriterSkill(),
        CrashingSkill(),
        HangingSkill(),
        HangingAsyncSkill(),
        BadScoresSkill(),
    ]
    agent = skill_agent(settings, skills)
    yield agent
    agent.close()


def test_a_sync_skill_answers_and_sets_slots(api_agent: Agent, user_id: str) -> None:
    reply = api_agent.respond(user_id, "echo hello there")
    assert (reply.route, reply.text) == ("skill:echo", "hello there")
    assert api_agent.state(user_id).slots["echoed"] is True


def test_an_async_skill_answers_and_keeps_memory(api_agent: Agent, user_id: str) -> None:
    first = api_agent.respond(user_id, "shout hi")
    assert (first.route, first.text) == ("skill:shout", "HI\n!!")
    api_agent.respond(user_id, "shout again")
    assert api_agent.state(user_id).skill_data["shout"] == {"shouts": 2}


def test_an_async_skill_keeps_the_conversation_and_resumes_after_an_interruption(
    api_agent: Agent, user_id: str
) -> None:
    assert api_agent.respond(user_id, "quiz me").text == "What is 2 + 2?"
    detour = api_agent.respond(user_id, "echo hold on")
    assert (detour.route, detour.text) == ("skill:echo", "hold on\nBack to the quiz: what is 2 + 2?")
    answer = api_agent.respond(user_id, "4")
    assert (answer.route, answer.text) == ("skill:quiz", "Right!")
    assert api_agent.state(user_id).active_skill is None


def test_slots_are_set_and_cleared_through_the_skill_result(api_agent: Agent, user_id: str) -> None:
    assert api_agent.respond(user_id, "my colour is teal").text == "Noted: teal."
    assert api_agent.state(user_id).slots["colour"] == "teal"
    assert api_agent.respond(user_id, "forget my colour").text == "Forgotten."
    assert "colour" not in api_agent.state(user_id).slots


@pytest.mark.parametrize("text", ["write the slot", "write the slot and decline"])
def test_a_skill_that_writes_the_slots_itself_fails_loudly_and_saves_nothing(
    api_agent: Agent, user_id: str, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    api_agent.respond(user_id, "my colour is teal")
    reply = api_agent.respond(user_id, text)
    assert reply.route == "skill:slot_writer" and reply.text.startswith("Sorry, something went wrong")
    assert reply.trace["skill"] == {
        "name": "slot_writer",
        "outcome": "error",
        "error": "handle() wrote turn.state.slots (colour); return them in SkillResult(slots=...) instead.",
    }
    assert api_agent.state(user_id).slots["colour"] == "teal"
    assert any("skill slot_writer failed: handle() wrote" in record.message for record in caplog.records)


class MixedSkill(Skill):
    name = "mixed"

    async def handle(self, turn: Turn) -> SkillResult:  # type: ignore[override]
        return SkillResult("async in a sync skill")


class HalfAsyncSkill(AsyncSkill):
    name = "half_async"

    def can_handle(self, turn: Turn) -> float:  # type: ignore[override]
        return 0.0


def test_a_skill_whose_methods_do_not_match_its_base_class_is_refused() -> None:
    with pytest.raises(TypeError, match=r"handle\(\) is async def; .* subclasses AsyncSkill"):
        SkillRegistry([MixedSkill()])
    with pytest.raises(TypeError, match=r"can_handle\(\) must be async def in an AsyncSkill"):
        SkillRegistry([HalfAsyncSkill()])


def test_a_crashing_skill_apologises_in_the_users_language_and_saves_nothing(
    api_agent: Agent, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    reply = api_agent.respond(user_id, "please crash")
    assert reply.route == "skill:crashing" and reply.text.startswith("Sorry, something went wrong")
    assert reply.trace["skill"]["outcome"] == "error" and "boom" in reply.trace["skill"]["error"]
    assert "half" not in api_agent.state(user_id).slots
    assert any("skill crashing raised" in record.message for record in caplog.records)
    zh = api_agent.respond(user_id, "crash 一下，崩溃吧")
    assert zh.text.startswith("抱歉")


def test_a_hanging_skill_times_out_politely_and_its_late_writes_are_lost(
    api_agent: Agent, user_id: str
) -> None:
    started = time.monotonic()
    reply = api_agent.respond(user_id, "hang please")
    assert time.monotonic() - started < TIMEOUT_S + 2
    assert reply.route == "skill:hanging" and "took too long" in reply.text
    assert reply.trace["skill"]["outcome"] == "timeout"
    time.sleep(TIMEOUT_S * 3)  # the abandoned thread finishes and writes to its own copy
    assert api_agent.respond(user_id, "echo still here").text == "still here"
    assert "late" not in api_agent.state(user_id).slots


def test_a_hanging_async_skill_is_cancelled(api_agent: Agent, user_id: str) -> None:
    HangingAsyncSkill.cancelled = False
    reply = api_agent.respond(user_id, "stall forever")
    assert reply.trace["skill"]["outcome"] == "timeout" and "took too long" in reply.text
    deadline = time.monotonic() + 2
    while not HangingAsyncSkill.cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert HangingAsyncSkill.cancelled


@pytest.mark.parametrize("text", ["echo raise", "echo slow", "echo seven"])
def test_a_can_handle_that_fails_hangs_or_misbehaves_scores_zero(
    api_agent: Agent, user_id: str, text: str
) -> None:
    started = time.monotonic()
    reply = api_agent.respond(user_id, text)
    assert time.monotonic() - started < TIMEOUT_S + 2
    assert reply.route == "skill:echo"
    assert reply.trace["skill_scores"]["bad_scores"] == 0.0
    assert "bad_scores" in reply.trace["skill_score_errors"]


# ---------------------------------------------------------------------- discovery

FOLDER_SKILL = """
from skills import Skill, SkillResult

class PingSkill(Skill):
    name = "ping"
    description = "answers ping"

    def can_handle(self, turn):
        return 0.9 if turn.nlu.normalized == "ping" else 0.0

    def handle(self, turn):
        return SkillResult("pong")
"""


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "skills"
    folder.mkdir()
    (folder / "ping.py").write_text(FOLDER_SKILL, encoding="utf-8")
    (folder / "broken.py").write_text("import does_not_exist\n", encoding="utf-8")
    (folder / "_private.py").write_text("raise SystemExit('never imported')\n", encoding="utf-8")
    rasa_example = Path(__file__).parent.parent / "data" / "skills" / "rasa_example"
    for name in ("actions.py", "domain.yml", "restaurant.rasa.yaml"):
        (folder / name).write_text((rasa_example / name).read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_discovery_finds_entry_points_and_the_skills_folder(tmp_path: Path, skills_dir: Path) -> None:
    registry = SkillRegistry.discover(Settings(home=tmp_path, skills_dir=skills_dir))
    entries = {entry.name: entry for entry in registry.entries}
    assert {"clock", "calculator", "units", "reminders", "order_status"} <= entries.keys()
    assert entries["clock"].source.startswith("entry point dialog-agent")
    assert entries["ping"].enabled and entries["ping"].source == f"folder {skills_dir / 'ping.py'}"
    assert entries["restaurant"].enabled
    assert entries["broken"].status.startswith("error: ModuleNotFoundError")
    assert "_private" not in entries and registry.get("broken") is None


def test_enable_and_disable_settings(tmp_path: Path, skills_dir: Path) -> None:
    only = SkillRegistry.discover(Settings(home=tmp_path, skills_dir=skills_dir, skills_enabled="ping,clock"))
    assert sorted(skill.name for skill in only) == ["clock", "ping"]
    assert (
        next(e for e in only.entries if e.name == "units").status
        == "disabled: not listed in DIALOG_SKILLS_ENABLED"
    )
    without = SkillRegistry.discover(
        Settings(home=tmp_path, skills_dir=skills_dir, skills_disabled=["units"])
    )
    assert without.get("units") is None and without.get("clock") is not None
    assert (
        next(e for e in without.entries if e.name == "units").status
        == "disabled: listed in DIALOG_SKILLS_DISABLED"
    )


def test_two_skills_with_one_name_keep_the_first(tmp_path: Path, skills_dir: Path) -> None:
    (skills_dir / "clock_clone.py").write_text(FOLDER_SKILL.replace('"ping"', '"clock"'), encoding="utf-8")
    registry = SkillRegistry.discover(Settings(home=tmp_path, skills_dir=skills_dir))
    clocks = [entry for entry in registry.entries if entry.name == "clock"]
    assert [entry.enabled for entry in clocks] == [True, False]
    assert "already taken" in clocks[1].status
    with pytest.raises(ValueError, match="two skills"):
        SkillRegistry([EchoSkill(), EchoSkill()])


def test_skills_list_shows_source_and_status(home: Path, skills_dir: Path) -> None:
    result = run_dialog(
        "skills", "list",
        env={"DIALOG_HOME": str(home), "DIALOG_SKILLS_DIR": str(skills_dir),
             "DIALOG_SKILLS_DISABLED": "units",
             "COLUMNS": "250"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "entry point dialog-agent" in lines["clock"] and "enabled" in lines["clock"]
    assert "folder" in lines["ping"] and "enabled" in lines["ping"]
    assert "disabled" in lines["units"]
    assert "error: ModuleNotFoundError" in lines["broken"]


def test_invalid_skill_settings_are_one_clear_error(home: Path) -> None:
    result = run_dialog("skills", "list", env={"DIALOG_HOME": str(home), "DIALOG_TIMEZONE": "Mars/Olympus"})
    assert result.returncode == 2 and "unknown timezone 'Mars/Olympus'" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------- authoring


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports (`from x.y import z` counts as x.y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            found.add(node.module or "")
    return found


def test_a_scaffolded_skill_imports_only_skills_and_plugs_into_an_agent(
    home: Path, tmp_path: Path, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"api_{uuid.uuid4().hex[:8]}"
    created = run_dialog("skill", "new", name, "--dir", str(tmp_path), env={"DIALOG_HOME": str(home)})
    assert created.returncode == 0, created.stderr
    package = tmp_path / name.replace("_", "-")
    source = (package / f"dialog_skill_{name}" / "skill.py").read_text(encoding="utf-8")
    outside = {
        module
        for module in imported_modules(source)
        if module != "skills" and module.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
    }
    assert not outside, f"the scaffolded skill imports {outside}"
    assert "skills" in imported_modules(source)

    monkeypatch.setattr(sys, "path", list(sys.path))  # package_skills adds the package's folder
    [skill] = package_skills(package)
    assert isinstance(skill, Skill) and skill.name == name
    agent = skill_agent(Settings(home=home), [skill])
    try:
        asked = agent.respond(user_id, f"start {name.replace('_', ' ')}")
        assert (asked.route, asked.text) == (f"skill:{name}", "Hi! What's your name?")
        assert agent.respond(user_id, "Ada").text == "Nice to meet you, Ada!"
        assert agent.respond(user_id, f"打开{name.replace('_', ' ')}").text == "你好！你叫什么名字？"
    finally:
        agent.close()
