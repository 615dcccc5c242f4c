"""`dialog skills list`, `dialog skill new NAME` (`dialog skill test` is the engine's: dialog.testing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

skills_app = typer.Typer(help="The installed skills.", no_args_is_help=True)
skill_app = typer.Typer(help="Write and test a skill.", no_args_is_help=True)


@skills_app.command("list")
def list_skills() -> None:
    """Each skill found (entry points, skills folder): its source and status."""
    from dialog_core.cli import load_settings, out
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
    from dialog_core.cli import out, user_errors
    from skills.authoring import scaffold

    with user_errors():
        target = scaffold(name, directory)
    out.print(f"created {target}")
    out.print(f"next: pip install -e {target} && dialog skill test {target}")
