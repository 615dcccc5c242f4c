"""Testing skills: an agent for given skills, and scripted conversations (`dialog skill test`).

A conversation file (YAML):

    skills: [hello]                # optional: only these of the discovered skills
    conversations:
      - name: greets in both languages
        steps:
          - user: say hello
            route: skill:hello     # optional: the expected route (route_not: a route it must not take)
            reply: "(?i)hello"     # optional: a regular expression the reply must contain
          - user: 说你好
            reply: 你好

Each conversation runs as a new user on a real agent (embedded or configured services); the user
is forgotten afterwards.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from dialog_core.component import AgentParts, BaseComponent, load_components
from dialog_core.errors import InvalidInput
from dialog_core.settings import Settings
from skills.api import AnySkill
from skills.registry import SkillRegistry

if TYPE_CHECKING:
    from dialog.agent import Agent


class BasicUnderstanding(BaseComponent):
    """In place of the understanding component: normalisation and language only, no trained intent
    model (the knowledge component still links entities)."""

    name = "understanding"
    order = 30

    def build(self, parts: AgentParts) -> None:
        from dialog.understanding import DetectLanguage, Normalize

        parts.add_stage(Normalize(), "read")
        parts.add_stage(DetectLanguage(), "read")


def skill_agent(
    settings: Settings, skills: SkillRegistry | Sequence[AnySkill], *, full: bool = False
) -> Agent:
    """An Agent running exactly these skills. `full=False` skips the trained understanding stages
    (intent classifier, emotion...), so routing rests on the skills' own `can_handle` rules."""
    from dialog.agent import Agent

    registry = skills if isinstance(skills, SkillRegistry) else SkillRegistry(skills, settings=settings)
    components = load_components()[0]
    if not full:
        components = [c for c in components if c.name != "understanding"] + [BasicUnderstanding()]
        components.sort(key=lambda component: component.order)
    return Agent.from_settings(settings, skills=registry, components=components)


# ---------------------------------------------------------------------- conversation scripts


class Step(BaseModel):
    user: str
    route: str | None = None
    route_not: str | None = None
    reply: str | None = None  # regular expression, searched in the reply

    @model_validator(mode="after")
    def _valid_pattern(self) -> Step:
        if self.reply is not None:
            try:
                re.compile(self.reply)
            except re.error as error:
                raise ValueError(
                    f"reply pattern {self.reply!r} is not a regular expression: {error}"
                ) from error
        return self


class Conversation(BaseModel):
    name: str
    steps: list[Step] = Field(min_length=1)


class Script(BaseModel):
    skills: list[str] | None = None
    conversations: list[Conversation] = Field(min_length=1)


def load_script(path: Path) -> Script:
    """Read a conversation file; a bad file is one InvalidInput sentence naming the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror}.") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{path} is not valid YAML{where}.") from error
    if isinstance(data, list):
        data = {"conversations": data}
    try:
        return Script.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{path}: {where}: {first['msg']}.") from error


@dataclass
class StepResult:
    step: Step
    reply: str
    route: str

    @property
    def problems(self) -> list[str]:
        found = []
        if self.step.route is not None and self.route != self.step.route:
            found.append(f"route {self.route!r}, expected {self.step.route!r}")
        if self.step.route_not is not None and self.route == self.step.route_not:
            found.append(f"route {self.route!r}, expected another one")
        if self.step.reply is not None and not re.search(self.step.reply, self.reply):
            found.append(f"reply does not match {self.step.reply!r}")
        return found


@dataclass
class ConversationResult:
    name: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not step.problems for step in self.steps)


@dataclass
class Report:
    conversations: list[ConversationResult]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.conversations)

    @property
    def counts(self) -> tuple[int, int]:
        passed = sum(1 for c in self.conversations if c.ok)
        return passed, len(self.conversations) - passed

    def describe(self) -> str:
        lines = []
        for conversation in self.conversations:
            lines.append(f"{'PASS' if conversation.ok else 'FAIL'} {conversation.name}")
            for result in conversation.steps:
                mark = "  ok " if not result.problems else "  !! "
                lines.append(f"{mark}> {result.step.user}")
                lines.append(f"       [{result.route}] {result.reply}")
                lines.extend(f"       {problem}" for problem in result.problems)
        passed, failed = self.counts
        lines.append(f"{passed} passed, {failed} failed")
        return "\n".join(lines)


def run_script(script: Script, agent: Agent, channel: str = "test") -> Report:
    results = []
    for conversation in script.conversations:
        user_id = f"skilltest-{uuid.uuid4().hex[:12]}"
        outcome = ConversationResult(conversation.name)
        try:
            for step in conversation.steps:
                reply = agent.respond(user_id, step.user, channel=channel)
                outcome.steps.append(StepResult(step, reply.text, reply.route))
        finally:
            with contextlib.suppress(Exception):
                agent.forget(user_id)
        results.append(outcome)
    return Report(results)


# ---------------------------------------------------------------------- a package's own skills


def package_skills(package_dir: Path) -> list[AnySkill]:
    """The skills a (not necessarily installed) package declares as `dialog.skills` entry points."""
    import importlib
    import sys
    import tomllib

    from skills.discovery import as_skill
    from skills.registry import ENTRY_POINT_GROUP

    pyproject = package_dir / "pyproject.toml"
    try:
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(f"{pyproject} cannot be read as a pyproject file.") from error
    declared = config.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    if not declared:
        raise InvalidInput(f'{pyproject} declares no [project.entry-points."{ENTRY_POINT_GROUP}"].')
    for source_root in (package_dir / "src", package_dir):
        if source_root.is_dir() and str(source_root) not in sys.path:
            sys.path.insert(0, str(source_root))
    found = []
    for name, target in declared.items():
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
            found.append(as_skill(getattr(module, attribute) if attribute else module))
        except Exception as error:
            raise InvalidInput(f"Skill '{name}' ({target}) cannot be loaded: {error}.") from error
    return found


@contextlib.contextmanager
def temporary_settings(base: Settings, home: Path) -> Iterator[Settings]:
    """The same settings with another data dir; its embedded server is stopped afterwards."""
    from dialog.runtime.embedded import EmbeddedServer

    settings = base.model_copy(update={"home": home})
    try:
        yield settings
    finally:
        if settings.embedded:
            EmbeddedServer(home).stop()


def check_conversations(path: Path, skills: Sequence[AnySkill], home: Path, *, full: bool = False) -> Report:
    """Run a conversation file against an agent with these skills on a data dir of its own."""
    script = load_script(path)
    with temporary_settings(Settings(), home) as settings:
        agent = skill_agent(settings, skills, full=full)
        try:
            return run_script(script, agent)
        finally:
            agent.close()
