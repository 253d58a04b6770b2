"""LabToneEngine: a deterministic, model-free stand-in used by the local lab and contract tests.

It is not speech and never the image's default. It produces a voiced, speech-band signal (a
harmonic series with formant weighting and a syllable-rate envelope) whose pitch depends on the
voice and whose content depends on the text and seed, so mixed-up responses are detectable.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import numpy.typing as npt

from chatterbox_panda_kit.contract import SAMPLE_RATE

from .base import Engine, EngineOutput, SynthesisParams

SECONDS_PER_CHAR = 0.06
MIN_SECONDS = 0.4
MAX_SECONDS = 40.0
FORMANTS_HZ = (500.0, 1500.0, 2500.0)


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def voice_pitch_hz(voice: str) -> float:
    """A fixed fundamental per voice name, 110-230 Hz."""
    return 110.0 + (_stable_int("pitch", voice) % 121)


def render(params: SynthesisParams) -> npt.NDArray[np.float32]:
    seconds = min(MAX_SECONDS, max(MIN_SECONDS, SECONDS_PER_CHAR * len(params.text)))
    n = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(_stable_int(params.text, params.voice, params.seed, params.exaggeration))
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    f0 = voice_pitch_hz(params.voice) * (1.0 + 0.03 * np.sin(2 * np.pi * 3.0 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    signal = np.zeros(n)
    for harmonic in range(1, 16):
        freq = harmonic * voice_pitch_hz(params.voice)
        weight = sum(np.exp(-(((freq - f) / 300.0) ** 2)) for f in FORMANTS_HZ) + 0.05
        signal += weight * np.sin(harmonic * phase) / harmonic
    syllables = max(1, int(seconds * 4))
    levels = rng.uniform(0.4, 1.0, syllables)
    envelope = np.repeat(levels, int(np.ceil(n / syllables)))[:n]
    envelope *= 0.55 - 0.45 * np.cos(2 * np.pi * 4.0 * t)
    signal *= envelope
    signal *= 0.3 / max(1e-9, float(np.max(np.abs(signal))))
    fade = min(n // 2, SAMPLE_RATE // 100)
    ramp = np.linspace(0.0, 1.0, fade)
    signal[:fade] *= ramp
    signal[n - fade :] *= ramp[::-1]
    return signal.astype(np.float32)


class LabToneEngine(Engine):
    name = "lab-tone"

    def __init__(self, voices: frozenset[str], rtf: float = 0.0, load_seconds: float = 0.0) -> None:
        super().__init__()
        self._voices = voices
        self._rtf = rtf
        self._load_seconds = load_seconds

    @property
    def voices(self) -> frozenset[str]:
        return self._voices

    def load(self) -> None:
        time.sleep(self._load_seconds)
        self.load_seconds = self._load_seconds

    def synthesize(
        self, params: SynthesisParams, max_new_tokens: int | None = None, *, ignore_stop_token: bool = False
    ) -> EngineOutput:
        started = time.perf_counter()
        wav = render(params)
        if self._rtf > 0:
            # Simulate a model's compute time so queueing and timeouts behave as in production.
            remaining = self._rtf * wav.size / SAMPLE_RATE - (time.perf_counter() - started)
            if remaining > 0:
                time.sleep(remaining)
        return EngineOutput(wav=wav, stage_seconds={"render": time.perf_counter() - started})

    def describe(self) -> dict[str, object]:
        return {"engine": self.name, "model": "none (lab signal, not speech)"}
