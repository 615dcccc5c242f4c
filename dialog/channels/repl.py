"""The terminal REPL: prompt_toolkit input with a history file, rich output, slash commands.

On a terminal it uses prompt_toolkit; with piped input it reads plain lines, so a script can
drive it. Ctrl-C and Ctrl-D (EOF) both leave cleanly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.table import Table

from dialog.agent import Agent
from dialog.errors import DialogError
from dialog.turn import Reply

HELP = """Commands:
  /why     how the last reply was chosen (route, reason, candidates, timings)
  /state   the stored dialogue state
  /reset   start a new session (your profile stays)
  /help    this text
  /quit    leave (Ctrl-D and Ctrl-C work too)"""


def lines_from_terminal(history_file: Path) -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_file.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(history_file)))
    while True:
        yield session.prompt("you> ")


def lines_from_pipe() -> Iterator[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")


class Repl:
    def __init__(self, agent: Agent, user_id: str, console: Console) -> None:
        self.agent = agent
        self.user_id = user_id
        self.console = console
        self.last: Reply | None = None
        self.commands: dict[str, Callable[[], None]] = {
            "/why": self.why,
            "/state": self.state,
            "/reset": self.reset,
            "/help": lambda: self.console.print(HELP),
        }

    def run(self, lines: Iterator[str]) -> None:
        self.console.print(
            "[bold]dialog[/bold] — chat in English or 中文. /help for commands, /quit to leave."
        )
        try:
            for line in lines:
                if not self.step(line):
                    break
        except (KeyboardInterrupt, EOFError):
            pass
        self.console.print("Bye. 再见！")

    def step(self, line: str) -> bool:
        """Handle one input line; False means leave."""
        command = line.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            return False
        if command in self.commands:
            self.commands[command]()
            return True
        try:
            self.last = self.agent.respond(self.user_id, line, channel="repl")
        except DialogError as error:
            self.console.print(f"[red]{error}[/red]")
            return True
        self.console.print(f"[bold cyan]bot>[/bold cyan] {self.last.text}  [dim]({self.last.route})[/dim]")
        return True

    def why(self) -> None:
        if self.last is None:
            self.console.print("Nothing to explain yet.")
            return
        trace = self.last.trace
        decision = trace.get("decision", {})
        self.console.print(f"route: [bold]{self.last.route}[/bold] — {decision.get('reason', '')}")
        understanding = trace.get("understanding", {})
        self.console.print(
            f"language: {understanding.get('language')}  intent: {self.last.intent.name} "
            f"({self.last.intent.confidence:.2f})  emotion: {self.last.emotion.label}"
        )
        for attempt in trace.get("handlers", []):
            self.console.print(f"  tried {attempt['route']}: {attempt['outcome']}")
        candidates: list[dict[str, Any]] = trace.get("candidates", [])
        if candidates:
            table = Table("score", "source", "candidate", title="candidates")
            for candidate in candidates:
                table.add_row(f"{candidate['rank_score']:.3f}", candidate["source"], candidate["text"])
            self.console.print(table)
        timings = ", ".join(f"{stage} {ms:.1f}" for stage, ms in trace.get("timings_ms", {}).items())
        self.console.print(f"[dim]ms: {timings}[/dim]")

    def state(self) -> None:
        try:
            state = self.agent.state(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{error}[/red]")
            return
        self.console.print(JSON(json.dumps(state.model_dump(), ensure_ascii=False)))

    def reset(self) -> None:
        try:
            state = self.agent.reset(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{error}[/red]")
            return
        self.last = None
        self.console.print(f"New session {state.session.id[:8]}. 新的会话开始了。")
