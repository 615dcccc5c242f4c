"""A sample third-party component: what a package needs to plug into the agent (docs/components.md)."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from dialog_core.component import AgentParts, BaseComponent, CommandLine, DoctorLine, Progress, SetupStep
from dialog_core.services import Services
from dialog_core.settings import Settings
from dialog_core.turn import Turn


class WordCount:
    """A stage of the understanding pipeline: how many words the message has, in the turn's trace."""

    name = "sample_words"

    def __call__(self, turn: Turn) -> None:
        turn.trace.record("sample_words", len(turn.nlu.normalized.split()))


class MarkerStep:
    """A `dialog setup` step: writes a file into the data dir once."""

    name = "sample: marker"

    def ready(self, settings: Settings, services: Services) -> bool:
        return (settings.home / "sample" / "ready").exists()

    def run(self, settings: Settings, services: Services, progress: Progress | None = None) -> str:
        marker = settings.home / "sample" / "ready"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("ready\n", encoding="utf-8")
        return "marker written"


sample_app = typer.Typer(help="A sample third-party component.", no_args_is_help=True)


@sample_app.command("hello")
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello, {name}, from the sample component")


class SampleComponent(BaseComponent):
    name = "sample"
    order = 100

    def setup_steps(self) -> Sequence[SetupStep]:
        return [MarkerStep()]

    def build(self, parts: AgentParts) -> None:
        parts.add_stage(WordCount(), "signals")

    def add_commands(self, cli: CommandLine) -> None:
        cli.add("sample", sample_app)

    def describe(self) -> list[DoctorLine]:
        return [DoctorLine("sample component", "counts the words of each message")]
