"""`dialog skill test PATH`: scripted conversations against a real agent running the skills."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text


def test_skill(
    path: Annotated[Path, typer.Argument(help="A skill package folder, or a conversations YAML file.")],
    full: Annotated[bool, typer.Option("--full", help="Also run the trained understanding stages.")] = False,
    use_home: Annotated[
        bool, typer.Option("--use-home", help="Run on the configured data dir (its graph), not a fresh one.")
    ] = False,
) -> None:
    """Run scripted conversations: each user line -> expected route and reply pattern."""
    from dialog.testing import load_script, package_skills, run_script, skill_agent, temporary_settings
    from dialog_core.cli import err, load_settings, log_to_file, out, user_errors
    from dialog_core.errors import InvalidInput
    from skills.registry import SkillRegistry

    settings = load_settings()
    log_to_file(settings)
    with user_errors():
        if path.is_dir():
            script, skills = load_script(path / "conversations.yaml"), package_skills(path)
        elif path.is_file():
            script = load_script(path)
            skills = [
                s for s in SkillRegistry.discover(settings) if not script.skills or s.name in script.skills
            ]
        else:
            raise InvalidInput(f"{path} is neither a skill package folder nor a conversations file.")
        with contextlib.ExitStack() as stack:
            if not use_home:
                scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dialog-skill-test-")))
                settings = stack.enter_context(temporary_settings(settings, scratch))
            agent = skill_agent(settings, skills, full=full)
            stack.callback(agent.close)
            report = run_script(script, agent)
    for line in report.describe().splitlines():
        failed = line.startswith(("FAIL", "  !!", "       route", "       reply"))
        out.print(Text(line, style="red" if failed else ""))
    if not report.ok:
        err.print("[red]Some conversations failed.[/red]")
        raise typer.Exit(1)
