"""Adding a GGUF file to the embedded server's models: copied or downloaded, then verified.

The file is written beside the others under a temporary name, hashed while it is written,
and only moved into place and registered when its SHA-256 is the one given: a wrong checksum,
a file that is not GGUF or an interrupted download changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import BinaryIO

from autan.llm.embedded.errors import EmbeddedModelError
from autan.llm.embedded.weights import (
    CATALOGUE,
    GGUF_MAGIC,
    RegisteredModel,
    now,
    registry,
    save_registry,
)

_HEX = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_BLOCK = 1 << 20


def _open(source: str) -> BinaryIO:
    if source.startswith(("http://", "https://")):
        response: BinaryIO = urllib.request.urlopen(source, timeout=60)  # noqa: S310
        return response
    path = Path(source)
    if not path.is_file():
        raise EmbeddedModelError(f"no such file: {source}")
    return path.open("rb")


def default_name(source: str) -> str:
    """A model name from the file name: `Mistral-7B.Q4.gguf` → `mistral-7b.q4`."""
    stem = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".gguf").lower()
    return re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-.") or "model"


def add_model(source: str, sha256: str, folder: Path, name: str | None = None) -> RegisteredModel:
    """Copy or download `source` into `folder`, check its SHA-256, and register it."""
    expected = sha256.strip().lower()
    if not _HEX.fullmatch(expected):
        raise EmbeddedModelError("--sha256 must be 64 hexadecimal characters")
    name = name or default_name(source)
    if not _NAME.fullmatch(name):
        raise EmbeddedModelError(
            "a model name is 1 to 64 lower-case letters, digits, dots, dashes or underscores"
        )
    if name in CATALOGUE:
        raise EmbeddedModelError(f"{name} is the name of a packaged model: choose another")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.gguf.partial"
    digest = hashlib.sha256()
    try:
        with _open(source) as reader, partial.open("wb") as out:
            head = reader.read(len(GGUF_MAGIC))
            if head != GGUF_MAGIC:
                raise EmbeddedModelError(f"{source} is not a GGUF model file")
            digest.update(head)
            out.write(head)
            while block := reader.read(_BLOCK):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected:
            raise EmbeddedModelError(
                f"the SHA-256 of {source} is {digest.hexdigest()}, not {expected}: "
                "the file is damaged, incomplete or not the one expected; nothing was changed"
            )
    except OSError as exc:
        raise EmbeddedModelError(f"{source} could not be read: {exc}") from exc
    finally:
        if partial.exists() and digest.hexdigest() != expected:
            partial.unlink()
    target = folder / f"{name}.gguf"
    os.replace(partial, target)
    status = target.stat()
    stamp = {"sha256": expected, "size": status.st_size, "mtime_ns": status.st_mtime_ns}
    target.with_name(target.name + ".verified").write_text(json.dumps(stamp))
    models = registry(folder)
    models[name] = RegisteredModel(name, target.name, expected, source, now())
    save_registry(folder, models)
    return models[name]
