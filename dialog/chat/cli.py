"""`dialog index build`, `dialog train generator|matcher|ranker`, `dialog generator serve`,
`dialog corpus add-from-feedback`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from dialog_core import cli as base
from dialog_core.cli import progress_bar

if TYPE_CHECKING:
    from dialog.feedback.training import FeedbackGroups
    from dialog_core.settings import Settings

index_app = typer.Typer(help="The core-chat retrieval index.", no_args_is_help=True)
generator_app = typer.Typer(help="The neural generator's model as a shared service.", no_args_is_help=True)
corpus_app = typer.Typer(help="The data dir's own corpora (approved replies).", no_args_is_help=True)


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


def train_ranker(
    with_feedback: Annotated[
        bool,
        typer.Option(
            "--with-feedback",
            help="Also train on the logged turns' feedback (weighed by feedback_weight); publish only a "
            "ranker no worse than the current one on the held-out split.",
        ),
    ] = False,
) -> None:
    """Train the LightGBM ranker; print held-out NDCG@1 / R@1 and feature importances."""
    from dialog.chat import training

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors():
        feedback = logged_feedback(settings) if with_feedback else None
        with progress_bar() as report:
            meta = training.train_ranker(settings, progress=report, feedback=feedback)
    groups = meta["groups"]
    base.out.print(
        f"ranker: {groups['train']} training groups, {groups['calibration']} calibration groups, "
        f"{groups['heldout']} held-out groups (never indexed or trained on)"
    )
    table = Table("held-out", "NDCG@1", "R@1", title="ranking quality")
    for name, metrics in meta["heldout"].items():
        table.add_row(name, f"{metrics['ndcg@1']:.4f}", f"{metrics['r@1']:.4f}")
    base.out.print(table)
    if "feedback" in meta:
        print_feedback(meta["feedback"])
    if meta.get("refused"):
        base.err.print(f"[red]{meta['refused']}[/red]")
        raise typer.Exit(1)
    base.out.print(f"1 true reply among 10 (9 random held-out replies), R@1: {meta['one_in_ten_r@1']:.4f}")
    importances = Table("feature", "gain share", title="feature importances")
    for name, share in meta["importances"].items():
        importances.add_row(name, f"{share:.4f}")
    base.out.print(importances)


def logged_feedback(settings: Settings) -> FeedbackGroups:
    from dialog.feedback.training import from_log
    from dialog.runtime.services import Services

    services = Services.connect(settings)
    try:
        return from_log(settings, services)
    finally:
        services.close()


def print_feedback(feedback: dict[str, Any]) -> None:
    """The feedback trained on, and the current and new ranker on both held-out sets."""
    from dialog.feedback.training import described

    groups = feedback["groups"]
    turns = described(feedback["turns"])
    base.out.print(
        f"feedback: {turns}; {groups['train']} groups trained on (weight {feedback['weight']} each), "
        f"{groups['heldout']} in the held-out log slice (its users are never trained on)"
    )
    table = Table("ranker", "held-out split NDCG@1", "R@1", "held-out log slice NDCG@1", "R@1",
                  title="the current ranker and the new one")  # fmt: skip
    for name in ("current", "new"):
        found = feedback[name]
        if found is None:
            table.add_row(name, "none on today's features", "", "", "")
            continue
        split, log = found["heldout split"], found["heldout log slice"]
        cells = [f"{split['ndcg@1']:.4f}", f"{split['r@1']:.4f}"]
        cells += [f"{log['ndcg@1']:.4f}", f"{log['r@1']:.4f}"] if log else ["-", "-"]
        table.add_row(name, *cells)
    base.out.print(table)


@corpus_app.command("add-from-feedback")
def corpus_add_from_feedback(
    include_user_ratings: Annotated[
        bool,
        typer.Option(
            "--include-user-ratings", help="Also the replies users rated +1 (else operators' only)."
        ),
    ] = False,
) -> None:
    """Add the replies rated +1 by an operator to the data dir's corpus of approved replies."""
    from dialog.feedback.corpus import add_from_feedback
    from dialog.feedback.log import TurnLog
    from dialog.runtime.services import Services
    from dialog.state.store import StateStore

    settings = base.load_settings()
    base.log_to_file(settings)
    with base.user_errors():
        services = Services.connect(settings)
        try:
            log = TurnLog(StateStore(services.redis, settings), settings.feedback_max_turns)
            result = add_from_feedback(settings.home, log, include_user_ratings)
        finally:
            services.close()
    skipped = ", ".join(f"{count} {why}" for why, count in result.skipped.items())
    base.out.print(
        f"added {result.added} approved pairs to {result.path}"
        + (f" (left out: {skipped})" if skipped else "")
    )
    if result.added:
        base.out.print("run `dialog index build`, then `dialog train ranker`, to serve them")


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
