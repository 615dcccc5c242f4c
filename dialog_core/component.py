"""The component protocol: how knowledge, core chat, skills and any third-party package plug in.

A component is found through the `dialog.components` entry-point group (`pyproject.toml`:
`[project.entry-points."dialog.components"] mine = "my_package.component:MyComponent"`), made with
no arguments, and asked, in `order`, for

- `setup_steps()`: what `dialog setup` prepares (each step idempotent);
- `build(parts)`: its understanding stages, handlers and shared objects for one agent;
- `add_commands(cli)`: its `dialog` sub-commands;
- `describe()`: its lines of `dialog doctor`, about what `build` made.

Subclass `BaseComponent` and override only what the component has. See docs/components.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from dialog_core.errors import DialogError

if TYPE_CHECKING:
    import typer

    from dialog_core.services import Services
    from dialog_core.settings import Settings
    from dialog_core.turn import Handler, UnderstandingStage

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dialog.components"
Progress = Callable[[str, int, int], None]  # (stage, advance, total): drawn as a progress bar
Phase = Literal["read", "entities", "classify", "signals"]
PHASES: tuple[Phase, ...] = ("read", "entities", "classify", "signals")
"""Where a stage runs: reading the message (normalise, language, safety, rewrite), linking entities,
classifying the intent, then the signals read from all of it (emotion, acts, profile...)."""
T = TypeVar("T")


class SetupStep(Protocol):
    @property
    def name(self) -> str: ...

    def ready(self, settings: Settings, services: Services) -> bool:
        """True when this step's output exists and is current."""
        ...

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        """Do the work, reporting progress when it takes more than a few seconds; return a one-line
        summary. Raise DialogError with one sentence on failure."""
        ...


@dataclass(frozen=True)
class DoctorLine:
    """One line of `dialog doctor`: a part of the agent and what it runs on."""

    name: str
    detail: str


class CommandLine(Protocol):
    """What a component may add to the `dialog` command line."""

    def add(self, name: str, group: typer.Typer) -> None:
        """Add the sub-command group `dialog NAME`."""
        ...

    def group(self, name: str) -> typer.Typer:
        """A group already there (`train`, or another component's) to add commands to."""
        ...

    def connect(self, settings: Settings) -> Services:
        """The backing services, for a command that needs them (the command closes them)."""
        ...


@dataclass
class AgentParts:
    """What the components contribute to one agent, in the order they are built: understanding
    stages by phase, handlers by route, and shared objects by type (the skill registry, the graph's
    fact source...) that a later component may need."""

    settings: Settings
    services: Services
    handlers: dict[str, Handler] = field(default_factory=dict)
    _stages: list[tuple[int, int, UnderstandingStage]] = field(default_factory=list)
    _shared: dict[type, Any] = field(default_factory=dict)

    def add_stage(self, stage: UnderstandingStage, phase: Phase = "signals") -> None:
        self._stages.append((PHASES.index(phase), len(self._stages), stage))

    def add_handler(self, route: str, handler: Handler) -> None:
        if route in self.handlers:
            raise DialogError(f"Two components handle the route '{route}'.")
        self.handlers[route] = handler

    def stages(self) -> list[UnderstandingStage]:
        """The stages by phase; within a phase in the order they were added."""
        return [stage for _, _, stage in sorted(self._stages, key=lambda entry: entry[:2])]

    def share(self, kind: type[T], value: T) -> None:
        self._shared.setdefault(kind, value)  # the first one wins: a caller's choice comes first

    def find(self, kind: type[T]) -> T | None:
        return self._shared.get(kind)

    def need(self, kind: type[T]) -> T:
        value = self._shared.get(kind)
        if value is None:
            raise DialogError(f"No component provides {kind.__name__}, which the agent needs.")
        return value


@runtime_checkable
class Component(Protocol):
    name: str
    order: int  # lower first: built-ins use 10-50; a third-party component's default is 100

    def setup_steps(self) -> Sequence[SetupStep]: ...

    def build(self, parts: AgentParts) -> None: ...

    def add_commands(self, cli: CommandLine) -> None: ...

    def describe(self) -> list[DoctorLine]: ...


class BaseComponent:
    """A component that contributes nothing: subclass it and override what yours has."""

    name = "component"
    order = 100

    def setup_steps(self) -> Sequence[SetupStep]:
        return []

    def build(self, parts: AgentParts) -> None:
        return None

    def add_commands(self, cli: CommandLine) -> None:
        return None

    def describe(self) -> list[DoctorLine]:
        return []


@dataclass(frozen=True)
class BrokenComponent:
    """An entry point that could not be loaded: the agent runs without it, `dialog doctor` says why."""

    name: str
    error: str


def load_components() -> tuple[list[Component], list[BrokenComponent]]:
    """Every registered component, fresh, in order; and those that failed to load."""
    loaded: list[Component] = []
    broken: list[BrokenComponent] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            component = entry.load()()
        except Exception as error:  # a third party's bug must not stop the agent
            log.exception("component %s failed to load", entry.name)
            broken.append(BrokenComponent(entry.name, f"{type(error).__name__}: {error}"))
            continue
        if not isinstance(component, Component):
            broken.append(BrokenComponent(entry.name, "it does not implement the Component protocol"))
            continue
        loaded.append(component)
    return sorted(loaded, key=lambda component: (component.order, component.name)), broken


def setup_steps(components: Sequence[Component]) -> list[SetupStep]:
    """What `dialog setup` prepares, component by component."""
    return [step for component in components for step in component.setup_steps()]
