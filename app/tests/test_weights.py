"""Weights verification: the pinned manifest, the CLI, and the service refusing a corrupt file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chatterbox_shim.cli.verify_weights import main as verify_main
from chatterbox_shim.pins import pins
from chatterbox_shim.weights import MANIFEST_FILE_NAME, Manifest, WeightsError, check_weights, verify_weights

from .conftest import chatterbox_env

FILES = ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json", "conds.pt")


def test_pinned_manifest_is_the_research_notes():
    manifest = Manifest.pinned()
    assert [f.name for f in manifest.files] == list(FILES)
    sums = {f.name: f.sha256 for f in manifest.files}
    assert sums["t3_cfg.safetensors"] == "914cb1696f47527fe8852ca8f1fe1fa63cb34f76f9c715e84e067b744dd0da81"
    assert sums["conds.pt"] == "6552d70568833628ba019c6b03459e77fe71ca197d5c560cef9411bee9d87f4e"
    assert pins()["chatterbox_tts"] == "0.1.7"


def _small_bundle(tmp_path: Path) -> tuple[Path, Manifest]:
    from chatterbox_shim.weights import WeightFile, sha256_file

    for i, name in enumerate(FILES):
        (tmp_path / name).write_bytes(bytes([i]) * (1000 + i))
    manifest = Manifest("small", tuple(WeightFile(n, sha256_file(tmp_path / n), 1000 + i) for i, n in enumerate(FILES)))
    (tmp_path / MANIFEST_FILE_NAME).write_text(json.dumps(manifest.to_dict()))
    return tmp_path, manifest


def test_every_problem_is_named(tmp_path):
    directory, manifest = _small_bundle(tmp_path)
    assert check_weights(directory, manifest) == []
    (directory / "ve.safetensors").unlink()
    data = bytearray((directory / "conds.pt").read_bytes())
    data[10] ^= 0x01
    (directory / "conds.pt").write_bytes(bytes(data))
    (directory / "tokenizer.json").write_bytes(b"short")
    problems = {p.name: p.problem for p in check_weights(directory, manifest)}
    assert problems["ve.safetensors"] == "missing"
    assert problems["conds.pt"].startswith("sha256 ")
    assert "size 5 bytes" in problems["tokenizer.json"]
    with pytest.raises(WeightsError, match="verify-weights"):
        verify_weights(directory, manifest)


def test_cli_exit_codes(tmp_path, capsys):
    directory, _ = _small_bundle(tmp_path)
    manifest_path = str(directory / MANIFEST_FILE_NAME)
    assert verify_main([str(directory), "--manifest", manifest_path]) == 0
    assert "all 5 files match" in capsys.readouterr().out
    (directory / "s3gen.safetensors").write_bytes(b"\x00" * 1002)
    assert verify_main([str(directory), "--manifest", manifest_path]) == 1
    captured = capsys.readouterr()
    assert "FAIL s3gen.safetensors" in captured.out
    assert "s3gen.safetensors" in captured.err
    assert verify_main([str(directory)]) == 1  # the pinned production sums never match test data


def test_manifest_rejects_path_names():
    with pytest.raises(ValueError, match="plain file name"):
        Manifest.from_dict({"files": [{"name": "../t3.safetensors", "sha256": "0" * 64}]})


# Above this size a flipped byte costs a copy of gigabytes on CI's disk; for such a file the
# manifest is altered instead (one hex digit of its sum), which is the same mismatch to the check.
COPY_LIMIT_BYTES = 64 * 1024 * 1024


def _mismatched(bundle: Path, target: str, tmp_path: Path) -> tuple[Path, Path]:
    """(weights folder, manifest) where `target` no longer matches its pinned sum.

    A small file gets one flipped byte in a copy of the bundle (untouched files are hard links);
    a large one keeps its bytes and the manifest pins a sum with one digit changed.
    """
    manifest_path = bundle / MANIFEST_FILE_NAME
    if (bundle / target).stat().st_size > COPY_LIMIT_BYTES:
        data = json.loads(manifest_path.read_text())
        for entry in data["files"]:
            if entry["name"] == target:
                entry["sha256"] = ("0" if entry["sha256"][0] != "0" else "1") + entry["sha256"][1:]
        altered = tmp_path / MANIFEST_FILE_NAME
        altered.write_text(json.dumps(data))
        return bundle, altered
    directory = tmp_path / f"corrupt-{target}"
    directory.mkdir()
    for entry in bundle.iterdir():
        if entry.name == target:
            shutil.copyfile(entry, directory / entry.name)
        else:
            try:
                os.link(entry, directory / entry.name)
            except OSError:
                shutil.copyfile(entry, directory / entry.name)
    path = directory / target
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return directory, manifest_path


@pytest.mark.slow
@pytest.mark.parametrize("target", FILES)
def test_service_refuses_a_file_that_does_not_match(test_bundle, test_voices, tmp_path, target):
    weights_dir, manifest = _mismatched(test_bundle, target, tmp_path)
    env = {
        **chatterbox_env(test_bundle, test_voices, weights_dir=weights_dir, SHIM_PORT="1"),
        "SHIM_WEIGHTS_MANIFEST": str(manifest),
    }
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 3
    assert "refusing to start" in result.stderr
    assert f"{target}: sha256" in result.stderr
    others = [f for f in FILES if f != target]
    assert not any(f"{other}: " in result.stderr for other in others)
    assert verify_main([str(weights_dir), "--manifest", str(manifest), "--quiet"]) == 1
