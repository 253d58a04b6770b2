"""The service's voices: the allowlist beside the reference WAVs, as on Panda, checked and loaded.

What metadata.json may say is the kit's rule (chatterbox_panda_kit.voice_allowlist), shared with
the chatterbox_voices role; here each listed file must exist and match its pinned sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatterbox_panda_kit.voice_allowlist import METADATA_FILE, WAV_SUFFIX, AllowlistError, parse

from .weights import sha256_file


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


def load_allowlist(directory: Path, *, check_sums: bool = True) -> dict[str, Voice]:
    try:
        listed = parse((directory / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoiceError(f"no {METADATA_FILE} in the voices folder") from None
    except AllowlistError as exc:
        raise VoiceError(str(exc)) from None
    voices: dict[str, Voice] = {}
    for file_name, sha256 in listed:
        path = directory / file_name
        if not path.is_file():
            raise VoiceError(f"allowlisted voice file {file_name} is missing")
        if check_sums and sha256 and sha256_file(path) != sha256.lower():
            raise VoiceError(f"allowlisted voice file {file_name} does not match its sha256")
        voices[voice_name(file_name)] = Voice(voice_name(file_name), path, sha256)
    return voices
