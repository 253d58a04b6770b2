"""Reference voices for tests and the lab: real speech from espeak-ng, with a metadata.json
allowlist in Panda's layout. Not Samantha: only the file names match production."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from chatterbox_shim.weights import sha256_file

# About 3.5 s: long enough for the voice encoder's 1.6 s partials and a real S3 token prompt, short
# enough that every CPU test's S3Gen prompt (the reference mel) stays small.
REFERENCE_TEXT = "Hello, I am the failover voice, speaking clearly and evenly."
# Panda's production allowlist names, each mapped to a distinct espeak-ng voice.
DEFAULT_VOICES = {"samantha_evolving": "en-us+f3", "samantha_hello": "en-gb+f2", "samantha_name": "en-us+m3"}


class EspeakMissingError(RuntimeError):
    pass


def speak(text: str, espeak_voice: str, path: Path, words_per_minute: int = 160) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissingError("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(
        [exe, "-v", espeak_voice, "-s", str(words_per_minute), "-w", str(path), text],
        check=True,
        capture_output=True,
    )


def write_test_voices(directory: Path, voices: dict[str, str] | None = None) -> dict[str, str]:
    """Write one WAV per voice and metadata.json; returns name -> sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    chosen = voices or DEFAULT_VOICES
    sums: dict[str, str] = {}
    entries = []
    for name, espeak_voice in chosen.items():
        path = directory / f"{name}.wav"
        speak(REFERENCE_TEXT, espeak_voice, path)
        sums[name] = sha256_file(path)
        entries.append({"file": path.name, "sha256": sums[name], "source": f"espeak-ng {espeak_voice} (test voice)"})
    (directory / "metadata.json").write_text(json.dumps({"voices": entries}, indent=2) + "\n", encoding="utf-8")
    return sums
