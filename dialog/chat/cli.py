"""`dialog index build`, `dialog train generator|matcher|ranker`, `dialog generator serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dialog_core import cli as base
from dialog_core.cli import progress_bar

index_app = typer.Typer(help="The core-chat retrieval index.", no_args_is_help=True)
generator_app = typer.Typer(help="The neural generator's model as a shared service.", no_args_is_help=True)


@index_app.command("build")
def index_build(
    corpus: Annotated[
        list[Path] | None,
        typer.Option("--corpus", help="A corpus file (.jsonl, .csv, chatterbot .yml); repeatable."),
    ] = None,
    no_default: Annotated[
        bool, typer.Option("--no-default", help="Leave out the shipped chatterbot-corpus and persona pairs.")
    ] = False,
) -> None:
    """Build the retrieval index into the data dir; it replaces the old one only when complete."""
    from dialog.chat import training
    from dialog.runtime.services import Services

    settings = base.load_settings()
    base.log_to_file(settings)
    files = list(corpus or [])
    if no_default and not files:
        base.err.print("[red]Nothing to index: --no-default needs at least one --corpus file.[/red]")
        raise typer.Exit(2)
    with base.user_errors(), progress_bar() as report:
        services = Services.connect(settings) if settings.chat_vector_index == "redis" else None
        try:
            meta = training.build_index(settings, files, include_default=not no_default, progress=report,
                                        services=services)  # fmt: skip
        finally:
            if services is not None:
                services.close()
    base.out.print(
        f"indexed {meta['pairs']} pairs from {len(meta['corpora'])} files "
        f"({meta['heldout_pairs']} held out: answered, never trained on) into {settings.home / 'index'}"
    )
    if meta["skipped"]:
        base.out.print(f"skipped malformed entries of the shipped corpus: {', '.join(meta['skipped'])}")


def train_generator() -> None:
    """Prepare the generator: the shipped pretrained model (Qwen2.5-Coder-0.5B-Instruct), its checksum
    verified, converted into the data dir (nothing is trained any more; `dialog setup` does this too)."""
    from dialog.chat.shipped_model import prepare

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors(), progress_bar() as report:
        meta = prepare(settings.home, progress=report)
    base.out.print(f"generator: {meta['model']} verified (sha256) and converted in {meta['seconds']} s "
                   f"-> {settings.home / 'models' / 'generator'}")  # fmt: skip


def train_matcher() -> None:
    """Fine-tune the response matcher (a bi-encoder from the embedding model) on the indexed pairs."""
    from dialog.chat import training

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors(), progress_bar() as report:
        meta = training.train_matcher(settings, progress=report)
    base.out.print(
        f"matcher: {meta['pairs']} pairs, {meta['steps']} steps, final loss {meta['final_loss']}, "
        f"{meta['seconds']} s -> {settings.home / 'models' / 'matcher'}; run `dialog train ranker` next"
    )


def train_ranker() -> None:
    """Train the LightGBM ranker; print held-out NDCG@1 / R@1 and feature importances."""
    from dialog.chat import training

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors(), progress_bar() as report:
        meta = training.train_ranker(settings, progress=report)
    groups = meta["groups"]
    base.out.print(
        f"ranker: {groups['train']} training groups, {groups['calibration']} calibration groups, "
        f"{groups['heldout']} held-out groups (never indexed or trained on)"
    )
    table = Table("held-out", "NDCG@1", "R@1", title="ranking quality")
    for name, metrics in meta["heldout"].items():
        table.add_row(name, f"{metrics['ndcg@1']:.4f}", f"{metrics['r@1']:.4f}")
    base.out.print(table)
    base.out.print(f"1 true reply among 10 (9 random held-out replies), R@1: {meta['one_in_ten_r@1']:.4f}")
    importances = Table("feature", "gain share", title="feature importances")
    for name, share in meta["importances"].items():
        importances.add_row(name, f"{share:.4f}")
    base.out.print(importances)


@generator_app.command("serve")
def generator_serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8008,
    model: Annotated[str | None, typer.Option(help="Model path or hub name (default: settings).")] = None,
) -> None:
    """Serve the generator's model over an OpenAI-compatible API (for DIALOG_CHAT_GENERATOR_URL)."""
    from dialog.chat.lm_server import serve as serve_model

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors():
        serve_model(settings, host, port, model)
