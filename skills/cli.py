"""`dialog skills list`, `dialog skill new NAME`, `dialog skill test PATH`."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

skills_app = typer.Typer(help="The installed skills.", no_args_is_help=True)
skill_app = typer.Typer(help="Write and test a skill.", no_args_is_help=True)


@skills_app.command("list")
def list_skills() -> None:
    """Each skill found (entry points, skills folder): its source and status."""
    from dialog.cli import load_settings, out
    from skills.registry import SkillRegistry

    settings = load_settings()
    table = Table("skill", "source", "status", "description")
    for entry in SkillRegistry.discover(settings).entries:
        status = entry.status
        if entry.enabled and entry.skill is not None:
            problem = entry.skill.health()
            status = f"[red]unavailable: {problem}[/red]" if problem else "[green]enabled[/green]"
        elif status.startswith("error"):
            status = f"[red]{status}[/red]"
        description = entry.skill.description if entry.skill else ""
        table.add_row(entry.name, entry.source, status, description)
    out.print(table)


@skill_app.command("new")
def new_skill(
    name: Annotated[str, typer.Argument(help="Skill name: lowercase letters, digits, underscores.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the package.")] = Path("."),
) -> None:
    """Scaffold a pip-installable skill package (entry point, skill, conversations, a test)."""
    from dialog.cli import out, user_errors
    from skills.authoring import scaffold

    with user_errors():
        target = scaffold(name, directory)
    out.print(f"created {target}")
    out.print(f"next: pip install -e {target} && dialog skill test {target}")


@skill_app.command("test")
def test_skill(
    path: Annotated[Path, typer.Argument(help="A skill package folder, or a conversations YAML file.")],
    full: Annotated[bool, typer.Option("--full", help="Also run the trained understanding stages.")] = False,
    use_home: Annotated[
        bool, typer.Option("--use-home", help="Run on the configured data dir (its graph), not a fresh one.")
    ] = False,
) -> None:
    """Run scripted conversations: each user line -> expected route and reply pattern."""
    from dialog.cli import err, load_settings, log_to_file, out, user_errors
    from dialog.errors import InvalidInput
    from skills.registry import SkillRegistry
    from skills.testing import load_script, package_skills, run_script, skill_agent, temporary_settings

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
