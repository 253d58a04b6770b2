"""The voice allowlist: metadata.json beside the reference WAVs, as on Panda.

Accepted shapes of metadata.json (the file names are the allowlist; nothing else in the folder is
ever opened):
  {"voices": [{"file": "samantha_evolving.wav", "sha256": "..."}, "samantha_hello.wav"]}
  {"samantha_evolving.wav": {"sha256": "...", ...}, "samantha_hello.wav": {}}
An optional sha256 per entry is checked when the allowlist is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .weights import sha256_file

METADATA_FILE = "metadata.json"
WAV_SUFFIX = ".wav"


class VoiceError(RuntimeError):
    """The allowlist is missing, malformed, or names a file that is absent or altered."""


@dataclass(frozen=True)
class Voice:
    name: str
    path: Path | None
    sha256: str | None = None


def voice_name(requested: str) -> str:
    """Normalise a requested voice: with or without '.wav', same voice."""
    name = requested.strip()
    return name[: -len(WAV_SUFFIX)] if name.lower().endswith(WAV_SUFFIX) else name


def _entries(metadata: Any) -> list[tuple[str, str | None]]:
    if isinstance(metadata, dict) and "voices" in metadata:
        raw = metadata["voices"]
        if not isinstance(raw, list):
            raise VoiceError("metadata.json: 'voices' must be a list")
        entries: list[tuple[str, str | None]] = []
        for item in raw:
            if isinstance(item, str):
                entries.append((item, None))
            elif isinstance(item, dict) and isinstance(item.get("file"), str):
                entries.append((item["file"], item.get("sha256")))
            else:
                raise VoiceError(f"metadata.json: voice entry {item!r} has no 'file'")
        return entries
    if isinstance(metadata, dict):
        return [
            (key, value.get("sha256") if isinstance(value, dict) else None)
            for key, value in metadata.items()
            if key.lower().endswith(WAV_SUFFIX)
        ]
    raise VoiceError("metadata.json must be a JSON object")


def load_allowlist(directory: Path, *, check_sums: bool = True) -> dict[str, Voice]:
    metadata_path = directory / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoiceError(f"no {METADATA_FILE} in the voices folder") from None
    except json.JSONDecodeError as exc:
        raise VoiceError(f"{METADATA_FILE} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    voices: dict[str, Voice] = {}
    for file_name, sha256 in _entries(metadata):
        if Path(file_name).name != file_name or not file_name.lower().endswith(WAV_SUFFIX):
            raise VoiceError(f"allowlist entry {file_name!r} is not a plain .wav file name")
        path = directory / file_name
        if not path.is_file():
            raise VoiceError(f"allowlisted voice file {file_name} is missing")
        if check_sums and sha256 and sha256_file(path) != sha256.lower():
            raise VoiceError(f"allowlisted voice file {file_name} does not match its sha256")
        voices[voice_name(file_name)] = Voice(voice_name(file_name), path, sha256)
    if not voices:
        raise VoiceError(f"{METADATA_FILE} allowlists no voice")
    return voices
