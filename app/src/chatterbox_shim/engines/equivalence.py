"""Is the fast decoder 0.1.7's loop? The start-up check, the tests, the benches and the
acceptance run all ask here: tokens from both paths on one prompt, and teacher-forced logits.

Bound: fp32 teacher-forced logits within 1e-4 relative per step (max |fast - ref| / max |ref|;
they differ only by summation order), bf16 within 5e-2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from chatterbox_panda_kit.contract import EXAGGERATION_DEFAULT

from .decoders import stop_token_as
from .fast_t3 import DecodeResult, FastT3Decoder, prompt_embeds
from .sampling import Sampling
from .t3_reference import ReferenceRun, relative_error, run_reference

if TYPE_CHECKING:
    from .chatterbox import ChatterboxEngine

MAX_RELATIVE_ERROR = {"float32": 1e-4, "bfloat16": 5e-2}
CHECK_STEPS = 24
CHECK_TEXT = "Hello, this is the failover voice checking its decoder."


def reference_tokens(
    engine: ChatterboxEngine,
    text: str,
    voice: str,
    budget: int,
    *,
    greedy: bool = False,
    forced: torch.Tensor | None = None,
) -> ReferenceRun:
    """0.1.7's own loop with the service's default sampling (greedy or forced choice optional)."""
    return run_reference(
        engine.model.t3,
        t3_cond=engine.t3_cond(voice, EXAGGERATION_DEFAULT),
        text_tokens=engine.text_tokens(text),
        max_new_tokens=budget,
        sampling=Sampling(greedy=greedy),
        forced_tokens=forced,
    )


def fast_tokens(
    engine: ChatterboxEngine,
    fast: FastT3Decoder,
    text: str,
    voice: str,
    budget: int,
    *,
    greedy: bool = False,
    forced: torch.Tensor | None = None,
    stop_token: int | None = None,
) -> DecodeResult:
    """The fast decoder on the same prompt and sampling as reference_tokens."""
    t3 = engine.model.t3
    sampling = Sampling(greedy=greedy)
    with torch.inference_mode():
        return fast.decode(
            prompt_embeds(
                t3, engine.t3_cond(voice, EXAGGERATION_DEFAULT), engine.text_tokens(text), sampling.cfg_weight
            ),
            sampling,
            max_new_tokens=budget,
            start_token=t3.hp.start_speech_token,
            stop_token=t3.hp.stop_speech_token if stop_token is None else stop_token,
            forced_tokens=forced,
        )


def teacher_forced_errors(
    engine: ChatterboxEngine, fast: FastT3Decoder, text: str, voice: str, steps: int, *, graphs: bool = False
) -> list[float]:
    """The reference loop chooses `steps` tokens greedily, then both paths are fed exactly those
    tokens; the relative logit error of each step."""
    # A forced sequence must not end early on either side.
    with stop_token_as(engine.model.t3.hp, -1):
        forced = reference_tokens(engine, text, voice, steps, greedy=True).tokens[0]
        reference = reference_tokens(engine, text, voice, steps, forced=forced)
    saved_use, fast.use_graphs = fast.use_graphs, graphs
    # Captured graphs do not log logits: capture logging ones for this check, then restore.
    saved_graphs, fast.graphs = fast.graphs, {}
    fast.logit_log = torch.zeros(steps + 16, 2, fast.vocab, device=fast.device)
    try:
        fast_tokens(engine, fast, text, voice, steps, forced=forced, stop_token=-1)
        logged = fast.logit_log[:steps].clone()
    finally:
        fast.logit_log = None
        fast.use_graphs = saved_use
        fast.graphs = saved_graphs
    # Fast step i logs the logits after token i; the reference samples step i+1 from those.
    pairs = zip(logged[:-1], reference.step_logits[1:], strict=False)
    return [relative_error(f, r) for f, r in pairs]


def start_up_check(engine: ChatterboxEngine, fast: FastT3Decoder, dtype: str) -> tuple[float, bool]:
    """(largest error, passed) of the start-up check on this very device."""
    steps = min(CHECK_STEPS, engine.token_cap.ceiling)
    # Through captured graphs where the decoder serves them: what serves is what is checked.
    error = max(teacher_forced_errors(engine, fast, CHECK_TEXT, engine.first_voice(), steps, graphs=fast.use_graphs))
    return error, error <= MAX_RELATIVE_ERROR[dtype]
