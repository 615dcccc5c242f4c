"""Helpers every `dialog` sub-command uses: the consoles, settings, errors as one sentence, the log
file and progress bars. A component's commands import these, never the root CLI."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dialog_core.errors import DialogError, InvalidInput
from dialog_core.settings import Settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a DialogError as its one sentence (exit 2 for bad input, 1 otherwise)."""
    try:
        yield
    except DialogError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2 if isinstance(error, InvalidInput) else 1) from None


def load_settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:  # pydantic's ValidationError: name the bad setting, no traceback
        err.print(f"[red]Invalid settings: {error}[/red]")
        raise typer.Exit(2) from None


def log_to_file(settings: Settings) -> None:
    """Tracebacks go to `<home>/logs/dialog.log`, never onto the user's screen."""
    path = settings.home / "logs" / "dialog.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=path, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@contextlib.contextmanager
def progress_bar() -> Iterator[Any]:
    """A (stage, advance, total) callback drawing one rich bar per stage, on stderr."""
    bars: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as progress:  # fmt: skip

        def report(stage: str, advance: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.advance(bars[stage], advance)

        yield report
