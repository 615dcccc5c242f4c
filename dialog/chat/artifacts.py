"""Where core chat keeps its artifacts under the data dir, and their atomic replacement.

Each artifact (index, generator, matcher, ranker) is a directory published through a symlink: a new
version is written beside the old one, then the link is swapped with one rename, so a reader sees
either the old or the new version, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dialog_core.errors import DialogError


class ArtifactError(DialogError):
    """A model or index cannot be loaded or written."""

    http_status = 503


def index_dir(home: Path) -> Path:
    return home / "index"


def generator_dir(home: Path) -> Path:
    return home / "models" / "generator"


def matcher_dir(home: Path) -> Path:
    return home / "models" / "matcher"


def ranker_dir(home: Path) -> Path:
    return home / "models" / "ranker"


def exists(link: Path) -> bool:
    return (link / "meta.json").is_file()


def meta(link: Path) -> dict | None:
    """The published artifact's meta.json, or None when there is none."""
    return json.loads((link / "meta.json").read_text(encoding="utf-8")) if exists(link) else None


@contextmanager
def publishing(link: Path) -> Iterator[Path]:
    """Yield an empty directory to write into; on success it replaces `link` atomically.

    On an exception the new directory is removed and the old version stays in service.
    """
    versions = link.parent / f".{link.name}.versions"
    versions.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f"{time.strftime('%Y%m%d-%H%M%S')}-", dir=versions))
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if link.exists() and not link.is_symlink():  # a plain directory from an older layout
        shutil.rmtree(link)
    temp_link = link.parent / f".{link.name}.link-{os.getpid()}"
    temp_link.unlink(missing_ok=True)
    temp_link.symlink_to(new.relative_to(link.parent))
    old = link.resolve() if link.is_symlink() else None
    os.replace(temp_link, link)
    if old is not None and old != new and old.parent == versions:
        shutil.rmtree(old, ignore_errors=True)
