"""`dialog skill new NAME`: a pip-installable skill package that passes its own test right away."""

from __future__ import annotations

from pathlib import Path

from dialog_core.errors import InvalidInput
from skills.api import SKILL_NAME

TEMPLATE_DIR = Path(__file__).parent / "template"
TEMPLATE_SUFFIX = ".tmpl"


def scaffold(name: str, parent: Path) -> Path:
    """Write the package for skill `name` into `parent/<name>`; returns that folder."""
    if not SKILL_NAME.match(name):
        raise InvalidInput(
            f"'{name}' is not a skill name: use lowercase letters, digits and underscores, "
            "starting with a letter."
        )
    target = parent / name.replace("_", "-")
    if target.exists():
        raise InvalidInput(f"{target} already exists; choose another name or folder.")
    values = {
        "name": name,
        "package": f"dialog_skill_{name}",
        "dist": f"dialog-skill-{name.replace('_', '-')}",
        "cls": "".join(part.capitalize() for part in name.split("_")) + "Skill",
        "words": " ".join(name.split("_")),
        "pattern": r"\s+".join(name.split("_")),
        "title": name.replace("_", " ").capitalize(),
    }
    for source in sorted(TEMPLATE_DIR.rglob(f"*{TEMPLATE_SUFFIX}")):
        relative = str(source.relative_to(TEMPLATE_DIR)).removesuffix(TEMPLATE_SUFFIX)
        relative = relative.replace("__package__", values["package"]).replace("__name__", name)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        destination.write_text(text.format(**values), encoding="utf-8")
    return target
