"""T3's sampling settings: one object for both decode paths (0.1.7's loop and the fast decoder)."""

from __future__ import annotations

from dataclasses import dataclass

from chatterbox_panda_kit.contract import CFG_WEIGHT_DEFAULT, TEMPERATURE_DEFAULT

from .base import SynthesisParams

# Sampling constants of ChatterboxTTS.generate() in 0.1.7.
REPETITION_PENALTY = 1.2
MIN_P = 0.05
TOP_P = 1.0


@dataclass(frozen=True)
class Sampling:
    temperature: float = TEMPERATURE_DEFAULT
    cfg_weight: float = CFG_WEIGHT_DEFAULT
    repetition_penalty: float = REPETITION_PENALTY
    min_p: float = MIN_P
    top_p: float = TOP_P
    greedy: bool = False

    @classmethod
    def for_request(cls, params: SynthesisParams) -> Sampling:
        return cls(temperature=params.temperature, cfg_weight=params.cfg_weight)
