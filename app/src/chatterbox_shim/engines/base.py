"""What every engine offers the service: load once, then synthesize one request at a time."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from chatterbox_panda_kit.contract import CFG_WEIGHT_DEFAULT, EXAGGERATION_DEFAULT, SAMPLE_RATE, TEMPERATURE_DEFAULT

SPEECH_TOKENS_PER_SECOND = 25


@dataclass(frozen=True)
class SynthesisParams:
    """One utterance's inputs; the defaults are the contract's (Panda's request defaults)."""

    text: str
    voice: str
    exaggeration: float = EXAGGERATION_DEFAULT
    cfg_weight: float = CFG_WEIGHT_DEFAULT
    temperature: float = TEMPERATURE_DEFAULT
    seed: int | None = None


@dataclass
class EngineOutput:
    wav: npt.NDArray[np.float32]
    speech_tokens: int | None = None
    token_cap: int | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def hit_token_cap(self) -> bool:
        return self.token_cap is not None and self.speech_tokens is not None and self.speech_tokens >= self.token_cap


@dataclass(frozen=True)
class TokenCap:
    """Speech tokens allowed for a text: 25/s x (base_seconds + chars / chars_per_second).

    chars_per_second is the slowest plausible speaking rate, so a normal reading never reaches the
    cap while a runaway generation (hiss, breathing, silence) stops long before 0.1.7's 40 s.
    """

    base_seconds: float = 1.5
    chars_per_second: float = 7.0
    ceiling: int = 1000

    def for_text(self, text: str) -> int:
        seconds = self.base_seconds + len(text) / self.chars_per_second
        return max(1, min(self.ceiling, math.ceil(SPEECH_TOKENS_PER_SECOND * seconds)))


class Engine(ABC):
    """One model instance; callers serialise synthesize() (the service's single worker does)."""

    name: ClassVar[str]
    sample_rate: ClassVar[int] = SAMPLE_RATE

    def __init__(self) -> None:
        self.load_seconds: float | None = None

    @property
    @abstractmethod
    def voices(self) -> frozenset[str]:
        """Names this engine can speak with (the allowlist)."""

    @abstractmethod
    def load(self) -> None:
        """Heavy start-up work: weights, per-voice conditionals. Sets load_seconds."""

    @abstractmethod
    def synthesize(
        self, params: SynthesisParams, max_new_tokens: int | None = None, *, ignore_stop_token: bool = False
    ) -> EngineOutput:
        """Float waveform at sample_rate in [-1, 1]; raises on failure. ignore_stop_token (benchmarks
        only) decodes to the cap where the engine has a token decode."""

    def describe(self) -> dict[str, object]:
        """Facts safe to publish on /health: no paths, no secrets."""
        return {"engine": self.name}
