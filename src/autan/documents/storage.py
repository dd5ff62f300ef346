"""Uploaded files kept on disk by content: `data_dir/files/<sha[:2]>/<sha256>`.

Two documents with the same bytes share one file; it is removed when no document
references it any more. Writes go to a temporary file renamed into place, so a crash
never leaves a half-written file under a real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from autan.documents.errors import FileTooLarge

_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpooledFile:
    """A received file on disk, not yet stored, with its size and digest."""

    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        """Remove the temporary file."""
        self.path.unlink(missing_ok=True)


class FileStore:
    """Content-addressed files under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    def path_of(self, sha256: str) -> Path:
        """Where the file with this digest lives (whether or not it exists)."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    async def spool(self, chunks: AsyncIterator[bytes], max_bytes: int) -> SpooledFile:
        """Write a stream to a temporary file, hashing it; beyond `max_bytes`, nothing is kept."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.incoming, prefix="upload-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return SpooledFile(path, size, digest.hexdigest())

    def keep(self, spooled: SpooledFile) -> Path:
        """Move a spooled file to its place; if the same content is there already, drop it."""
        target = self.path_of(spooled.sha256)
        if target.exists():
            spooled.discard()
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.path, target)  # atomic on one filesystem
        return target

    def store_bytes(self, data: bytes) -> tuple[str, Path]:
        """Store bytes already in memory (the CLI); returns the digest and the path."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_of(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(name, target)
        return sha, target

    def read(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError if they are gone."""
        return self.path_of(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def remove(self, sha256: str) -> None:
        """Remove a stored file (the caller checked that nothing references it)."""
        path = self.path_of(sha256)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds when the folder is empty


def sha256_of(path: Path) -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()
