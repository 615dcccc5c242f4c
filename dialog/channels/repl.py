"""The terminal REPL: prompt_toolkit input with a history file, rich output, slash commands.

On a terminal it uses prompt_toolkit: history in `<home>/repl_history`, a pasted block of several
lines is one message (bracketed paste; Esc Enter adds a line by hand), and messages the agent sends
on its own (the outbox's "repl" channel: reminders) appear above the prompt while you type. With
piped input it reads plain lines without colours, so a script can drive it. Ctrl-C and Ctrl-D
both leave cleanly.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.table import Table

from dialog.agent import Agent
from dialog.understanding import detect_language
from dialog_core.errors import DialogError
from dialog_core.outbox import Outbox
from dialog_core.turn import Reply

log = logging.getLogger(__name__)

CHANNEL = "repl"
POLL_S = 1.0
TYPING_AFTER_S = 0.4  # a turn slower than this (the neural generator writing) shows that the bot types
MAX_CANDIDATES = 10
_COMMAND = re.compile(r"/[a-z]+")  # "/whyy" is a mistyped command, "/ hi" or "/-:" a message
RATINGS = {"/good": 1, "/bad": -1}  # commands with an optional comment after them
THANKS = {
    ("en", 1): "Thanks — noted as good.",
    ("en", -1): "Thanks — noted as bad; I'll try to do better.",
    ("zh", 1): "谢谢，已记下：回答得好。",
    ("zh", -1): "谢谢，已记下：回答得不好，我会改进。",
}
HELP = """Commands:
  /why             how the last reply was chosen: route, reason, candidates and their scores
  /good [comment]  the last reply was good (the comment is optional)
  /bad [comment]   the last reply was bad
  /profile         what I remember about you
  /forget          forget what you told me about yourself (name, likes, city, job)
  /state           the stored dialogue state
  /reset           start a new session (your profile stays)
  /help            this text
  /quit            leave (Ctrl-D and Ctrl-C work too)
A pasted block of several lines is one message; Esc Enter starts a new line."""


def lines_from_terminal(history_file: Path) -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.patch_stdout import patch_stdout

    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _new_line(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    history_file.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(history_file)), key_bindings=bindings, prompt_continuation="...  "
    )
    with patch_stdout(raw=True):  # output from other threads is printed above the prompt
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
        self.outbox = Outbox(agent.services.redis, agent.settings)
        self.last: Reply | None = None
        self.last_turn: Reply | None = None  # the last reply to a turn (what /good and /bad rate)
        self._stop = threading.Event()
        self.commands: dict[str, Callable[[], None]] = {
            "/why": self.why,
            "/profile": self.profile,
            "/forget": self.forget,
            "/state": self.state,
            "/reset": self.reset,
            "/help": lambda: self.console.print(escape(HELP)),
        }

    def run(self, lines: Iterator[str]) -> None:
        self.console.print(
            "[bold]dialog[/bold] — chat in English or 中文. /help for commands, /quit to leave."
        )
        watcher = threading.Thread(target=self._watch_outbox, name="repl-outbox", daemon=True)
        watcher.start()
        try:
            for line in lines:
                if not self.step(line):
                    break
        except (KeyboardInterrupt, EOFError):
            pass
        finally:
            self._stop.set()
            watcher.join(5)
            close = getattr(lines, "close", None)
            if close:
                close()  # leave prompt_toolkit's patched stdout before the last words
        self.console.print("Bye. 再见！")

    def step(self, line: str) -> bool:
        """Handle one input line; False means leave."""
        with contextlib.suppress(DialogError):  # Redis away: the turn below says so
            self.deliver_due()
        command = line.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            return False
        word = command.split(" ", 1)[0]
        action: Callable[[], None] | None
        if word in RATINGS:  # "/good" or "/bad", then a comment as the user wrote it
            command, action = word, functools.partial(self.rate, RATINGS[word], line.strip()[len(word) :])
        else:
            action = self.commands.get(command)
        if action is not None:
            try:
                action()
            except Exception:  # a display bug must not end the user's chat
                log.exception("REPL command %s failed", command)
                self.console.print(f"[red]{command} failed; the details are in the log file.[/red]")
            return True
        if _COMMAND.fullmatch(command):
            self.console.print(f"Unknown command {escape(command)}; /help lists them.")
            return True
        try:
            with typing_notice(self.console):
                self.last = self.agent.respond(self.user_id, line, channel=CHANNEL)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return True
        if self.last.turn_id:  # not the prompt an empty message gets
            self.last_turn = self.last
        self.console.print(
            f"[bold cyan]bot>[/bold cyan] {escape(self.last.text)}  [dim]({escape(self.last.route)})[/dim]"
        )
        return True

    # ------------------------------------------------------------------ messages the agent starts

    def deliver_due(self) -> int:
        """Print this user's due outbox messages; each is taken once (atomically), even with two REPLs."""
        due = self.outbox.take_due(CHANNEL, self.user_id)
        for message in due:
            icon = "⏰ " if message.kind == "reminder" else ""
            self.console.print(f"[bold magenta]bot>[/bold magenta] {icon}{escape(message.text)}")
        return len(due)

    def _watch_outbox(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.deliver_due()
            except Exception:  # Redis away for a moment: the next round tries again
                log.exception("outbox poll failed")

    # ------------------------------------------------------------------ commands

    def why(self) -> None:
        if self.last is None:
            self.console.print("Nothing to explain yet.")
            return
        trace = self.last.trace
        decision = trace.get("decision", {})
        self.console.print(
            f"route: [bold]{escape(self.last.route)}[/bold] — {escape(decision.get('reason', ''))}"
        )
        understanding = trace.get("understanding", {})
        self.console.print(
            f"language: {understanding.get('language')}  intent: {escape(self.last.intent.name)} "
            f"({self.last.intent.confidence:.2f})  emotion: {self.last.emotion.label}"
        )
        for attempt in trace.get("handlers", []):
            self.console.print(f"  tried {escape(attempt['route'])}: {escape(attempt['outcome'])}")
        candidates: list[dict[str, Any]] = trace.get("candidates", [])
        if candidates:
            self.console.print(candidate_table(candidates))
        timings = ", ".join(f"{stage} {ms:.1f}" for stage, ms in trace.get("timings_ms", {}).items())
        self.console.print(f"[dim]ms: {timings}[/dim]")

    def profile(self) -> None:
        try:
            state = self.agent.state(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return
        if state.profile:
            table = Table("fact", "value", title=f"what I remember about {escape(self.user_id)}")
            for fact, value in state.profile.items():
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                table.add_row(escape(fact), escape(shown))
            self.console.print(table)
        else:
            self.console.print("Nothing yet: tell me about yourself (my name is… / 我叫…).")
        self.console.print(f"{state.total_turns} turns in all, {state.session.turns} in this session.")

    def state(self) -> None:
        try:
            state = self.agent.state(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return
        self.console.print(JSON(json.dumps(state.model_dump(), ensure_ascii=False)))

    def forget(self) -> None:
        try:
            self.agent.forget_profile(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return
        self.console.print("Forgotten: I no longer know your name, likes, city or job. 已忘记。")

    def reset(self) -> None:
        try:
            state = self.agent.reset(self.user_id)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return
        self.last = self.last_turn = None
        self.console.print(f"New session {state.session.id[:8]}. 新的会话开始了。")

    def rate(self, rating: int, comment: str = "") -> None:
        """/good and /bad: rate the last reply, and say thanks in the language of that turn."""
        if self.last_turn is None:
            self.console.print("Nothing to rate yet. 还没有可以评价的回复。")
            return
        try:
            self.agent.turn_log.rate(self.user_id, self.last_turn.turn_id, rating, comment)
        except DialogError as error:
            self.console.print(f"[red]{escape(str(error))}[/red]")
            return
        said = self.last_turn.trace.get("understanding", {}).get("language")
        language = said if said in ("en", "zh") else detect_language(self.last_turn.text)
        self.console.print(THANKS[language, rating])


@contextlib.contextmanager
def typing_notice(console: Console, after_s: float = TYPING_AFTER_S) -> Iterator[None]:
    """Say "bot is typing…" once when the block takes longer than `after_s` (most turns take far less)."""
    timer = threading.Timer(after_s, lambda: console.print("[dim]bot is typing…[/dim]"))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def candidate_table(candidates: list[dict[str, Any]]) -> Table:
    """The ranked candidates: final score, the generator's own score, source, text, strongest features."""
    table = Table("#", "score", "own", "source", "candidate", "top features", title="candidates")
    for rank, candidate in enumerate(candidates[:MAX_CANDIDATES], 1):
        features = candidate.get("features") or {}
        present = [(name, value) for name, value in features.items() if value is not None]  # None: missing
        strongest = sorted(present, key=lambda item: -abs(item[1]))[:3]
        table.add_row(
            str(rank),
            f"{candidate.get('rank_score', candidate.get('score', 0.0)):.3f}",
            f"{candidate.get('score', 0.0):.3f}",
            escape(str(candidate.get("source", ""))),
            escape(str(candidate.get("text", ""))),
            ", ".join(f"{name} {value:.2f}" for name, value in strongest),
        )
    if len(candidates) > MAX_CANDIDATES:
        table.caption = f"{len(candidates) - MAX_CANDIDATES} more not shown"
    return table
