"""The start-up sha256 check hashes files concurrently: same verdicts, same order, as one by one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from chatterbox_shim.weights import Manifest, WeightFile, check_weights


def _manifest(directory: Path) -> Manifest:
    files = []
    for index in range(5):
        data = bytes([index]) * (1_000_000 + index)
        (directory / f"f{index}.bin").write_bytes(data)
        files.append(WeightFile(f"f{index}.bin", hashlib.sha256(data).hexdigest()))
    return Manifest("t", tuple(files))


def test_concurrent_and_sequential_checks_agree(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    assert check_weights(tmp_path, manifest) == []
    (tmp_path / "f3.bin").write_bytes(b"changed")
    (tmp_path / "f1.bin").unlink()
    concurrent = check_weights(tmp_path, manifest)
    sequential = check_weights(tmp_path, manifest, progress=lambda *_: None)
    assert concurrent == sequential
    assert [p.name for p in concurrent] == ["f1.bin", "f3.bin"]
    assert concurrent[0].problem == "missing"
    assert concurrent[1].problem.startswith("sha256 ")
