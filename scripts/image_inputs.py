#!/usr/bin/env python3
"""The image tag and the hash of every build input.

tag = <chatterbox>-torch<torch>-cu<cuda>-<first 12 hex of sha256 over the inputs>

Inputs: pins.json, images/requirements*.lock, images/Dockerfile, app/pyproject.toml, every file
under app/src (bytecode excluded), and the build settings that change the result (target,
platform, base image, torch index, weights source, revision and manifest). A version bump in
pins.json, a lock change or a code change gives a new tag; nothing else does.

Usage: image_inputs.py SOURCE_DIR [--setting KEY=VALUE ...]   (prints JSON)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

PINS = Path("app/src/chatterbox_shim/pins.json")
LOCKS = (Path("images/requirements.lock"), Path("images/requirements-nodeps.lock"))
FIXED_INPUTS = (PINS, *LOCKS, Path("images/Dockerfile"), Path("app/pyproject.toml"))
TREES = (Path("app/src"),)
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


def input_files(root: Path) -> list[Path]:
    files = set(FIXED_INPUTS)
    for tree in TREES:
        for path in (root / tree).rglob("*"):
            relative = path.relative_to(root)
            generated = SKIP_PARTS & set(relative.parts) or any(p.endswith(".egg-info") for p in relative.parts)
            # A fatbin is a build output (make kernels); the image compiles its own from the source.
            if path.is_file() and not generated and path.suffix not in (".pyc", ".fatbin"):
                files.add(relative)
    return sorted(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--setting", action="append", default=[], help="KEY=VALUE build setting that changes the image")
    args = parser.parse_args()
    root = args.source.resolve()
    digest = hashlib.sha256()
    files = input_files(root)
    for relative in files:
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256((root / relative).read_bytes()).digest())
    for setting in sorted(args.setting):
        digest.update(b"setting\0" + setting.encode() + b"\0")
    pins = json.loads((root / PINS).read_text())
    inputs_hash = digest.hexdigest()
    pins_hash = hashlib.sha256(b"".join((root / p).read_bytes() for p in (PINS, *LOCKS))).hexdigest()
    tag = f"{pins['chatterbox_tts']}-torch{pins['torch']}-cu{pins['cuda']['version']}-{inputs_hash[:12]}"
    json.dump(
        {
            "tag": tag,
            "inputs_hash": inputs_hash,
            "pins_hash": pins_hash[:16],
            "files": [str(f) for f in files],
            "pins": pins,
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
