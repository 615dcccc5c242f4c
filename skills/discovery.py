"""Finding skills: the `dialog.skills` entry-point group and the skills folder.

An entry point names a skill class (a `Skill` or `AsyncSkill` subclass), a skill object, or a
function returning one. The skills folder (`skills_dir`, default `<home>/skills`) holds Python
modules or packages whose skill classes are loaded, and `*.rasa.yaml` files that bridge rasa-sdk
actions (`skills.rasa`).
A skill that cannot be loaded is listed with its error and never stops the agent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from skills.api import AnySkill, AsyncSkill, BaseSkill, Skill
from skills.registry import ENABLED, ENTRY_POINT_GROUP, SkillEntry, check_skill

if TYPE_CHECKING:
    from dialog_core.settings import Settings

log = logging.getLogger(__name__)
RASA_SUFFIXES = (".rasa.yaml", ".rasa.yml")
FOLDER_MODULE_PREFIX = "dialog_skills_folder"


def discover_entries(settings: Settings | None) -> list[SkillEntry]:
    return [*from_entry_points(settings), *from_folder(skills_folder(settings), settings)]


def skills_folder(settings: Settings | None) -> Path | None:
    if settings is None:
        return None
    return settings.skills_dir or settings.home / "skills"


def disabled_reason(name: str, settings: Settings | None) -> str | None:
    if settings is None:
        return None
    if settings.skills_enabled and name not in settings.skills_enabled:
        return "disabled: not listed in DIALOG_SKILLS_ENABLED"
    if name in settings.skills_disabled:
        return "disabled: listed in DIALOG_SKILLS_DISABLED"
    return None


def as_skill(found: Any) -> AnySkill:
    """A skill object from what a plugin exports: a class, an object, or a factory function."""
    is_class = inspect.isclass(found) and issubclass(found, BaseSkill)
    if is_class or (not isinstance(found, BaseSkill) and callable(found)):
        found = found()
    if not isinstance(found, Skill | AsyncSkill):
        raise TypeError(f"{found!r} is not a skill (a skills.Skill or skills.AsyncSkill)")
    check_skill(found)
    return found


def _loaded(name: str, source: str, settings: Settings | None, load: Any) -> SkillEntry:
    reason = disabled_reason(name, settings)
    if reason:
        return SkillEntry(name, source, reason)
    try:
        skill = as_skill(load())
    except Exception as error:
        log.exception("skill %s from %s could not be loaded", name, source)
        return SkillEntry(name, source, f"error: {type(error).__name__}: {error}")
    reason = disabled_reason(skill.name, settings)
    return SkillEntry(skill.name, source, reason or ENABLED, None if reason else skill)


def from_entry_points(settings: Settings | None) -> Iterator[SkillEntry]:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        yield _loaded(entry_point.name, _entry_point_source(entry_point), settings, entry_point.load)


def _entry_point_source(entry_point: EntryPoint) -> str:
    dist = entry_point.dist.name if entry_point.dist else "?"
    return f"entry point {dist}: {entry_point.value}"


def from_folder(folder: Path | None, settings: Settings | None) -> Iterator[SkillEntry]:
    if folder is None or not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.name.endswith(RASA_SUFFIXES):
            yield _rasa_entry(path, settings)
        elif path.suffix == ".py" or (path / "__init__.py").is_file():
            yield from _module_entries(path, settings)


def _rasa_entry(path: Path, settings: Settings | None) -> SkillEntry:
    from skills.rasa import RasaSkill

    name = path.name.split(".", 1)[0]
    return _loaded(name, f"folder {path}", settings, lambda: RasaSkill.from_file(path))


def _module_entries(path: Path, settings: Settings | None) -> Iterator[SkillEntry]:
    stem = path.stem if path.suffix == ".py" else path.name
    try:
        module = import_path(path)
        classes = skill_classes(module)
        if not classes:
            raise ImportError(f"{path.name} defines no skill class (Skill or AsyncSkill subclass)")
    except Exception as error:
        log.exception("skills folder module %s could not be loaded", path)
        yield SkillEntry(stem, f"folder {path}", f"error: {type(error).__name__}: {error}")
        return
    for cls in classes:
        yield _loaded(getattr(cls, "name", stem), f"folder {path}", settings, cls)


def import_path(path: Path) -> ModuleType:
    """Import a module file or package directory under a private name."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"{FOLDER_MODULE_PREFIX}_{path.stem if path.suffix == '.py' else path.name}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def skill_classes(module: ModuleType) -> list[type[BaseSkill]]:
    """Concrete skill classes defined in the module (or its package) that have a name."""
    return [
        cls
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, BaseSkill)
        and cls.__module__.startswith(module.__name__)
        and not inspect.isabstract(cls)
        and isinstance(cls.__dict__.get("name"), str)
    ]
