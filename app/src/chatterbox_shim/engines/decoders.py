"""T3's decode as a strategy, chosen once at start-up: 0.1.7's own loop, or the fast decoder.

Both take the same prompt and one Sampling object and return (1, n) speech tokens as
T3.inference does, the stop token included when sampled. `stop_token=-1` decodes to the cap (a
benchmark option: random weights stop at random).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

import torch

from .fast_t3 import FastT3Decoder, prompt_embeds
from .sampling import Sampling

log = logging.getLogger(__name__)


class Decoder(Protocol):
    name: str

    def decode(
        self, t3: Any, t3_cond: Any, text_tokens: torch.Tensor, sampling: Sampling, cap: int, *, stop_token: int
    ) -> torch.Tensor: ...


@contextlib.contextmanager
def stop_token_as(hp: Any, stop_token: int) -> Iterator[None]:
    """0.1.7's loop compares each sampled id with hp.stop_speech_token: set it for one call only."""
    saved = hp.stop_speech_token
    hp.stop_speech_token = stop_token
    try:
        yield
    finally:
        hp.stop_speech_token = saved


class ReferenceDecoder:
    name = "reference"

    def decode(
        self, t3: Any, t3_cond: Any, text_tokens: torch.Tensor, sampling: Sampling, cap: int, *, stop_token: int
    ) -> torch.Tensor:
        with stop_token_as(t3.hp, stop_token):
            return t3.inference(
                t3_cond=t3_cond,
                text_tokens=text_tokens,
                max_new_tokens=cap,
                temperature=sampling.temperature,
                cfg_weight=sampling.cfg_weight,
                repetition_penalty=sampling.repetition_penalty,
                min_p=sampling.min_p,
                top_p=sampling.top_p,
            )


class FastDecoder:
    """The graph-captured decoder; a prompt longer than its static cache takes the reference loop."""

    name = "fast"

    def __init__(self, fast: FastT3Decoder, max_prompt_tokens: int) -> None:
        self.fast = fast
        self.max_prompt_tokens = max_prompt_tokens
        self.reference = ReferenceDecoder()

    def decode(
        self, t3: Any, t3_cond: Any, text_tokens: torch.Tensor, sampling: Sampling, cap: int, *, stop_token: int
    ) -> torch.Tensor:
        embeds = prompt_embeds(t3, t3_cond, text_tokens, sampling.cfg_weight)
        if embeds.shape[1] > self.max_prompt_tokens:
            log.info("prompt longer than the fast path's cache: reference path", extra={"tokens": embeds.shape[1]})
            return self.reference.decode(t3, t3_cond, text_tokens, sampling, cap, stop_token=stop_token)
        return self.fast.decode(
            embeds, sampling, max_new_tokens=cap, start_token=t3.hp.start_speech_token, stop_token=stop_token
        ).tokens
