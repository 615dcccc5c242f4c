"""The `dialog` command line (typer). A failure prints one sentence and exits non-zero."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialog.runtime.embedded import EmbeddedServer
from dialog_core.cli import err, load_settings, log_to_file, out, progress_bar, user_errors
from dialog_core.component import load_components
from dialog_core.outbox import Outbox
from dialog_core.settings import Settings, config_file

if TYPE_CHECKING:
    from dialog.agent import Agent
    from dialog.runtime.services import Services

app = typer.Typer(help="A bilingual dialogue agent: chat, knowledge QA and skills.", no_args_is_help=True)
server_app = typer.Typer(help="The embedded Redis+FalkorDB server of the data dir.", no_args_is_help=True)
config_app = typer.Typer(help="Settings.", no_args_is_help=True)
train_app = typer.Typer(help="Train the models the agent uses.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(config_app, name="config")
app.add_typer(train_app, name="train")


class RootCommandLine:
    """The `dialog` command line as the components see it (dialog_core.component.CommandLine)."""

    def __init__(self, root: typer.Typer, groups: dict[str, typer.Typer]) -> None:
        self.root = root
        self.groups = dict(groups)

    def add(self, name: str, group: typer.Typer) -> None:
        if name in self.groups:
            raise ValueError(f"Two components add the command group 'dialog {name}'.")
        self.groups[name] = group
        self.root.add_typer(group, name=name)

    def group(self, name: str) -> typer.Typer:
        return self.groups[name]

    def connect(self, settings: Settings) -> Services:
        from dialog.runtime.services import Services

        return Services.connect(settings)


def add_component_commands() -> None:
    """Each registered component's sub-commands (`dialog kg`, `dialog index`, `dialog train ranker`...)."""
    cli = RootCommandLine(app, {"server": server_app, "config": config_app, "train": train_app})
    for component in load_components()[0]:
        component.add_commands(cli)


def make_agent(settings: Settings) -> Agent:
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
    agent.warm_up()  # what loads on first use loads now; the generator then loads while the user types
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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the full reply as JSON; its words are under `reply`, as in POST /v1/chat"
            " (`text` is a deprecated alias, dropped in the next release).",
        ),
    ] = False,
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
        output = {"reply": reply.text, **reply.model_dump(), "messages": messages}
        print(json.dumps(output, ensure_ascii=False, indent=2))
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
    from dialog.doctor import run_checks
    from dialog.runtime.services import Services
    from dialog_core.component import setup_steps

    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        services = Services.connect(settings)
        try:
            for step in setup_steps(load_components()[0]):
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


add_component_commands()
