"""The weights manifest and its verification: every file present, every sha256 as pinned."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pins import pins

MANIFEST_FILE_NAME = "weights-manifest.json"
CHUNK_BYTES = 8 * 1024 * 1024

# bytes read so far, total bytes (None when unknown)
ProgressCallback = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class WeightFile:
    name: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    files: tuple[WeightFile, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        files = tuple(WeightFile(name=f["name"], sha256=f["sha256"].lower(), size=f.get("size")) for f in data["files"])
        for file in files:
            if "/" in file.name or file.name.startswith("."):
                raise ValueError(f"manifest entry {file.name!r} is not a plain file name")
            if len(file.sha256) != 64:
                raise ValueError(f"manifest entry {file.name!r} has no full sha256")
        return cls(name=data.get("name", "unnamed"), files=files)

    @classmethod
    def pinned(cls) -> Manifest:
        return cls.from_dict(pins()["weights"])

    @classmethod
    def load(cls, path: Path | None) -> Manifest:
        if path is None:
            return cls.pinned()
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": [
                {"name": f.name, "sha256": f.sha256, **({"size": f.size} if f.size is not None else {})}
                for f in self.files
            ],
        }

    def digest(self) -> str:
        """A short identity of the manifest itself, for benchmark and canary records."""
        canonical = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]


@dataclass(frozen=True)
class FileProblem:
    name: str
    problem: str


class WeightsError(RuntimeError):
    def __init__(self, directory: Path, problems: list[FileProblem]) -> None:
        self.directory = directory
        self.problems = problems
        listing = "; ".join(f"{p.name}: {p.problem}" for p in problems)
        super().__init__(
            f"weights in {directory} do not match the manifest ({listing}). "
            "Re-fetch the named files (or rebuild the image) and run verify-weights again."
        )


def sha256_file(path: Path, progress: ProgressCallback | None = None, name: str = "") -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(name or path.name, done, total)
    return digest.hexdigest()


def check_weights(directory: Path, manifest: Manifest, progress: ProgressCallback | None = None) -> list[FileProblem]:
    """Every problem found, in manifest order; empty when all files match.

    Without a progress callback the files are hashed concurrently (hashlib releases the GIL), so
    the check takes about as long as the largest file rather than the sum of all of them."""
    problems: dict[int, FileProblem] = {}
    to_hash: list[tuple[int, WeightFile, Path]] = []
    for position, entry in enumerate(manifest.files):
        path = directory / entry.name
        if not path.is_file():
            problems[position] = FileProblem(entry.name, "missing")
            continue
        size = path.stat().st_size
        if entry.size is not None and size != entry.size:
            problems[position] = FileProblem(entry.name, f"size {size} bytes, expected {entry.size}")
            continue
        to_hash.append((position, entry, path))
    workers = 1 if progress is not None else max(1, min(len(to_hash), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sums = list(pool.map(lambda item: sha256_file(item[2], progress, item[1].name), to_hash))
    for (position, entry, _), actual in zip(to_hash, sums, strict=True):
        if actual != entry.sha256:
            problems[position] = FileProblem(entry.name, f"sha256 {actual}, expected {entry.sha256}")
    return [problems[position] for position in sorted(problems)]


def verify_weights(directory: Path, manifest: Manifest, progress: ProgressCallback | None = None) -> None:
    problems = check_weights(directory, manifest, progress)
    if problems:
        raise WeightsError(directory, problems)
