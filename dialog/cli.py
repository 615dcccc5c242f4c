"""The `dialog` command line (typer). A failure prints one sentence and exits non-zero."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialog.chat.cli import index_app, train_generator, train_matcher, train_ranker
from dialog.errors import DialogError, InvalidInput
from dialog.outbox import Outbox
from dialog.runtime.embedded import EmbeddedServer
from dialog.settings import Settings, config_file
from knowledge.cli import kg_app
from skills.cli import skill_app, skills_app

app = typer.Typer(help="A bilingual dialogue agent: chat, knowledge QA and skills.", no_args_is_help=True)
server_app = typer.Typer(help="The embedded Redis+FalkorDB server of the data dir.", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
train_app = typer.Typer(help="Train the models the agent uses.", no_args_is_help=True)
generator_app = typer.Typer(help="The neural generator's model as a shared service.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(generator_app, name="generator")
app.add_typer(config_app, name="config")
app.add_typer(train_app, name="train")
# Commands of other packages register themselves below (one line each), e.g.
#   app.add_typer(kg_app, name="kg") and train_app.command("ranker")(train_ranker).
app.add_typer(kg_app, name="kg")
app.add_typer(skills_app, name="skills")
app.add_typer(skill_app, name="skill")
app.add_typer(index_app, name="index")
train_app.command("ranker")(train_ranker)
train_app.command("matcher")(train_matcher)
train_app.command("generator")(train_generator)

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


def make_agent(settings: Settings):  # type: ignore[no-untyped-def]
    from dialog.agent import Agent  # imported late: `dialog config show` needs none of it

    return Agent.from_settings(settings)


UserOption = Annotated[str, typer.Option("--user", "-u", help="User id.")]


@app.command()
def chat(user: UserOption = "local") -> None:
    """Chat in the terminal (REPL)."""
    from dialog.channels.repl import Repl, lines_from_pipe, lines_from_terminal

    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        agent = make_agent(settings)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    lines = lines_from_terminal(settings.home / "repl_history") if interactive else lines_from_pipe()
    console = Console(highlight=False, no_color=not interactive)
    try:
        Repl(agent, user, console).run(lines)
    finally:
        agent.close()


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="The message.")],
    user: UserOption = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full reply as JSON.")] = False,
) -> None:
    """Send one message and print the reply (after the user's reminders that fell due since)."""
    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        agent = make_agent(settings)
        try:
            reply = agent.respond(user, text, channel="cli")
            due = Outbox(agent.services.redis, settings).take_due("cli", user)
        finally:
            agent.close()
    if as_json:
        messages = [message.model_dump(include={"text", "kind", "due_at"}) for message in due]
        print(json.dumps({**reply.model_dump(), "messages": messages}, ensure_ascii=False, indent=2))
    else:
        for message in due:
            print(message.text)
        print(reply.text)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: settings).")] = None,
) -> None:
    """Serve the HTTP API (POST /v1/chat, /wechat, GET /healthz, GET /metrics)."""
    from dialog.channels.serve import serve as run_server

    settings = load_settings()
    with user_errors():
        port = settings.port if port is None else port
        run_server(settings, host or settings.host, port, workers or settings.workers)


@generator_app.command("serve")
def generator_serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8008,
    model: Annotated[str | None, typer.Option(help="Model path or hub name (default: settings).")] = None,
) -> None:
    """Serve the generator's model over an OpenAI-compatible API (for DIALOG_CHAT_GENERATOR_URL)."""
    from dialog.chat.lm_server import serve as serve_model

    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        serve_model(settings, host, port, model)


@server_app.command("start")
def server_start() -> None:
    """Start the embedded server (or report the one running)."""
    settings = load_settings()
    with user_errors():
        status = EmbeddedServer(settings.home).ensure_running()
    out.print(f"running: pid {status.pid}, socket {status.socket}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the embedded server cleanly (its append-only file is flushed)."""
    settings = load_settings()
    with user_errors():
        stopped = EmbeddedServer(settings.home).stop()
    out.print("stopped" if stopped else "not running")


@server_app.command("status")
def server_status() -> None:
    """Is the embedded server running?"""
    settings = load_settings()
    status = EmbeddedServer(settings.home).status()
    if status.running:
        out.print(
            f"running: pid {status.pid}, socket {status.socket}, Redis {status.version}, "
            f"graph module {'loaded' if status.graph_module else 'MISSING'}, "
            f"up {status.uptime_s}s, memory {status.used_memory}"
        )
    else:
        note = " (stale pid file from a crash; the next start clears it)" if status.stale_pid_file else ""
        out.print(f"not running{note}")
        raise typer.Exit(3)


@config_app.command("show")
def config_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the effective settings, secrets masked."""
    values = load_settings().masked()
    if as_json:
        print(json.dumps(values, ensure_ascii=False, indent=2))
        return
    source = config_file()
    table = Table("setting", "env", "value", title=f"config file: {source or 'none'}")
    for name, value in values.items():
        table.add_row(name, f"DIALOG_{name.upper()}", "" if value is None else str(value))
    out.print(table)


@app.command()
def doctor() -> None:
    """Which services and models are in use, and whether each answers."""
    from dialog.doctor import run_checks

    settings = load_settings()
    table = Table("part", "in use", "status")
    healthy = True
    for check in run_checks(settings):
        healthy &= check.ok
        table.add_row(
            check.part,
            check.in_use,
            f"[green]{check.status}[/green]" if check.ok else f"[red]{check.status}[/red]",
        )
    out.print(table)
    if not healthy:
        raise typer.Exit(1)


@app.command()
def setup() -> None:
    """Prepare what the default agent needs (idempotent); `make chat` runs it."""
    from dialog.chat.cli import progress_bar
    from dialog.doctor import run_checks
    from dialog.runtime.services import Services
    from dialog.setup import setup_steps

    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        services = Services.connect(settings)
        try:
            for step in setup_steps():
                if step.ready(settings, services):
                    out.print(f"{step.name}: ready")
                    continue
                started = time.perf_counter()
                with progress_bar() as report:
                    summary = step.run(settings, services, report)
                out.print(f"{step.name}: {summary} [{time.perf_counter() - started:.0f} s]")
        finally:
            services.close()
    failures = [check for check in run_checks(settings) if not check.ok]
    for check in failures:
        err.print(f"[red]{check.part}: {check.status}[/red]")
    if failures:
        raise typer.Exit(1)
    out.print("ready")


@train_app.command("intent")
def train_intent() -> None:
    """Train the intent classifier; print accuracy and macro-F1 on the held-out split."""
    from dialog.understanding.intent import train_and_report
    from skills.registry import SkillRegistry

    settings = load_settings()
    model, report = train_and_report(settings.home, SkillRegistry.discover(settings))
    out.print(f"intent model: {len(model.labels)} labels, {report.train_size} training examples")
    out.print(f"held-out ({report.heldout_size} examples): accuracy {report.accuracy:.4f}, "
              f"macro-F1 {report.macro_f1:.4f}")  # fmt: skip
    for label, score in report.per_label_f1.items():
        out.print(f"  F1 {label}: {score:.4f}")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Conversation-turns per session (CPS) and the route mix, from the dialogue state in Redis."""
    from dialog.runtime.services import Services
    from dialog.state.store import StateStore
    from dialog.stats import collect

    settings = load_settings()
    with user_errors():
        services = Services.connect(settings)
        try:
            result = collect(StateStore(services.redis, settings))
        finally:
            services.close()
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    sessions = f"{result.finished_sessions} finished, {result.open_sessions} open"
    out.print(f"users {result.users}; sessions: {sessions}")
    out.print(f"turns per finished session (CPS): mean {result.cps_mean}, median {result.cps_median}")
    for route, share in result.route_share().items():
        out.print(f"  {route:<20} {share:6.1%}  ({result.routes[route]} turns)")
