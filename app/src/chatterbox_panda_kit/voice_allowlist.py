"""The voice allowlist's rules: how metadata.json beside Panda's reference WAVs is read.

Written once and used twice: the service loads its voices with it, and the chatterbox_voices role
runs it on the controller to learn which files to copy from Panda. Accepted shapes of
metadata.json (the file names are the allowlist; nothing else in the folder is ever opened):
  {"voices": [{"file": "samantha_evolving.wav", "sha256": "..."}, "samantha_hello.wav"]}
  {"samantha_evolving.wav": {"sha256": "...", ...}, "samantha_hello.wav": {}}
An entry may pin a sha256; a file name must be plain (no folder, no leading dot) and end in .wav.

  python3 -m chatterbox_panda_kit.voice_allowlist < metadata.json
prints [{"file": ..., "sha256": ...}] (sha256 "" when not pinned), or exits 2 naming the problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, NamedTuple

METADATA_FILE = "metadata.json"
WAV_SUFFIX = ".wav"
PLAIN_WAV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.wav", re.IGNORECASE)


class AllowlistError(ValueError):
    """metadata.json is not JSON, not an accepted shape, names no voice or a file that is not plain."""


class Entry(NamedTuple):
    file: str
    sha256: str | None


def _listed(metadata: Any) -> list[Entry]:
    if isinstance(metadata, dict) and "voices" in metadata:
        raw = metadata["voices"]
        if not isinstance(raw, list):
            raise AllowlistError(f"{METADATA_FILE}: 'voices' must be a list")
        entries = []
        for item in raw:
            if isinstance(item, str):
                entries.append(Entry(item, None))
            elif isinstance(item, dict) and isinstance(item.get("file"), str):
                entries.append(Entry(item["file"], item.get("sha256") or None))
            else:
                raise AllowlistError(f"{METADATA_FILE}: voice entry {item!r} has no 'file'")
        return entries
    if isinstance(metadata, dict):
        return [
            Entry(key, (value.get("sha256") or None) if isinstance(value, dict) else None)
            for key, value in metadata.items()
            if key.lower().endswith(WAV_SUFFIX)
        ]
    raise AllowlistError(f"{METADATA_FILE} must be a JSON object")


def entries(metadata: Any) -> list[Entry]:
    """The allowlisted files of a parsed metadata.json, each name checked; at least one."""
    listed = _listed(metadata)
    for entry in listed:
        if not PLAIN_WAV_NAME.fullmatch(entry.file):
            raise AllowlistError(f"allowlist entry {entry.file!r} is not a plain .wav file name")
        if entry.sha256 is not None and not isinstance(entry.sha256, str):
            raise AllowlistError(f"allowlist entry {entry.file!r} has a sha256 that is not a string")
    if not listed:
        raise AllowlistError(f"{METADATA_FILE} allowlists no voice")
    return listed


def parse(text: str) -> list[Entry]:
    """entries() of metadata.json's text."""
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AllowlistError(f"{METADATA_FILE} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return entries(metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m chatterbox_panda_kit.voice_allowlist",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    try:
        listed = parse(sys.stdin.read())
    except AllowlistError as error:
        print(error, file=sys.stderr)
        return 2
    json.dump([{"file": entry.file, "sha256": entry.sha256 or ""} for entry in listed], sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
