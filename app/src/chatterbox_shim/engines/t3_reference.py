"""0.1.7's own T3.inference, instrumented: its per-step logits, teacher forcing and greedy choice.

The equivalence checks compare the fast decoder with the package's real loop, not with a copy of
it: `torch.multinomial` is swapped, for the duration of one call, for a chooser that returns
forced tokens (teacher forcing) or the argmax (greedy), and a forward hook on the speech head
records the logits the loop computed at every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .decoders import ReferenceDecoder
from .sampling import Sampling


@dataclass
class ReferenceRun:
    tokens: torch.Tensor  # (1, n) as T3.inference returns them
    step_logits: list[torch.Tensor] = field(default_factory=list)  # (2, V) per sampling step


@contextlib.contextmanager
def _choose_with(chooser: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    original = torch.multinomial

    def replacement(probs: torch.Tensor, num_samples: int, *args: Any, **kwargs: Any) -> torch.Tensor:
        return chooser(probs)

    torch.multinomial = replacement  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.multinomial = original


@contextlib.contextmanager
def _record_logits(t3: Any, into: list[torch.Tensor]) -> Iterator[None]:
    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        into.append(output[:, -1, :].detach().float().clone())

    handle = t3.speech_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def run_reference(
    t3: Any,
    *,
    t3_cond: Any,
    text_tokens: torch.Tensor,
    max_new_tokens: int,
    sampling: Sampling,
    forced_tokens: torch.Tensor | None = None,
) -> ReferenceRun:
    """One call of 0.1.7's T3.inference; forced_tokens (teacher forcing) or greedy replace sampling."""
    logits: list[torch.Tensor] = []
    chooser: Callable[[torch.Tensor], torch.Tensor] | None = None
    if forced_tokens is not None:
        queue = iter(forced_tokens.reshape(-1).tolist())

        def chooser(probs: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[next(queue)]], device=probs.device, dtype=torch.long)

    elif sampling.greedy:

        def chooser(probs: torch.Tensor) -> torch.Tensor:
            return probs.argmax(dim=-1, keepdim=True)

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        stack.enter_context(_record_logits(t3, logits))
        if chooser is not None:
            stack.enter_context(_choose_with(chooser))
        tokens = ReferenceDecoder().decode(
            t3, t3_cond, text_tokens, sampling, max_new_tokens, stop_token=t3.hp.stop_speech_token
        )
    # The last forward's logits are never sampled from (the loop ends): keep one per sampled token.
    return ReferenceRun(tokens=tokens, step_logits=logits[: tokens.shape[-1]])


def relative_error(fast: torch.Tensor, reference: torch.Tensor) -> float:
    """max |fast - reference| over max |reference| (one number per compared step)."""
    scale = reference.abs().max().clamp_min(1e-12)
    return float((fast.float() - reference.float()).abs().max() / scale)
