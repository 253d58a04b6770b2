"""Float waveform to Panda's PCM framing, refusing anything a caller would hear as silence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chatterbox_panda_kit.contract import INT16_SCALE, SAMPLE_RATE


class InvalidAudioError(RuntimeError):
    """The engine produced audio that must never be sent with a 200."""


@dataclass(frozen=True)
class Pcm:
    """Little-endian signed 16-bit mono PCM and the facts the response headers report."""

    data: bytes
    samples: int
    rms: float
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


def rms_dbfs(rms: float) -> float:
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def resample(wav: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.float64]:
    """The waveform at another sample rate (soxr, very high quality); unchanged when the rates agree.

    Non-finite input is passed through untouched so that to_pcm16 refuses it by name."""
    samples = np.asarray(wav, dtype=np.float64).reshape(-1)
    if from_rate == to_rate or samples.size == 0 or not np.all(np.isfinite(samples)):
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="VHQ"), dtype=np.float64)


def to_pcm16(wav: npt.ArrayLike, *, rms_floor_dbfs: float, sample_rate: int = SAMPLE_RATE) -> Pcm:
    """Clip to [-1, 1], scale by 32767, round half to even; no wraparound.

    Raises InvalidAudioError for empty, non-finite or silent (RMS under the floor) audio.
    """
    samples = np.asarray(wav, dtype=np.float64).reshape(-1)
    if samples.size == 0:
        raise InvalidAudioError("synthesis produced no samples")
    if not np.all(np.isfinite(samples)):
        raise InvalidAudioError("synthesis produced non-finite samples (NaN or infinity)")
    clipped = np.clip(samples, -1.0, 1.0)
    rms = float(np.sqrt(np.mean(np.square(clipped))))
    if rms_dbfs(rms) < rms_floor_dbfs:
        raise InvalidAudioError(
            f"synthesis produced silent audio (RMS {rms_dbfs(rms):.1f} dBFS, floor {rms_floor_dbfs:.1f} dBFS)"
        )
    pcm = np.rint(clipped * INT16_SCALE).astype("<i2")
    return Pcm(data=pcm.tobytes(), samples=int(pcm.size), rms=rms, sample_rate=sample_rate)


def from_pcm16(data: bytes) -> npt.NDArray[np.float32]:
    """Inverse framing for probes and tests: bytes to float32 in [-1, 1]."""
    if len(data) % 2:
        raise InvalidAudioError(f"PCM body has an odd byte count ({len(data)})")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / INT16_SCALE
