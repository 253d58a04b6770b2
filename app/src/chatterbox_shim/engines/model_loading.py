"""0.1.7's model from its five files, as `ChatterboxTTS.from_local` builds it, minus its random init.

from_local constructs T3 and S3Gen with randomly initialised weights and then overwrites them with
`load_state_dict`. The random init is about 7 s of CPU time on an H200's host (4.8 s for T3's
520M parameters, 2.2 s for S3Gen), all of it thrown away. Here the modules are constructed with
`Tensor.uniform_` and `Tensor.normal_` (what every init in them reduces to) turned into no-ops,
then loaded:

- T3 is loaded strictly, as from_local does: every parameter and persistent buffer is written
  from the file, so none is left as uninitialised memory. Its only other buffers (rotary
  frequencies) are computed at construction, not drawn.
- S3Gen is loaded non-strictly by from_local (`strict=False`). Keys S3Gen itself declares as
  computed (`ignore_state_dict_missing`: the tokenizer's mel filters and window) may be missing.
  If any other key is missing, this loader builds S3Gen again the way from_local does (random
  init kept) and loads it the same way, with a log line naming the keys. Those keys then hold
  random values, as they do in from_local, but not the same ones: T3's draws were skipped, so
  the generator is in a different state.

Nothing else changes: the same classes, files, dtypes and devices; the voice encoder (8 ms to
construct) is built as from_local builds it. Only the CPU random generator's state after loading
differs (fewer numbers were drawn), and nothing downstream reads it: synthesis seeds its own draws.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

_DRAWING_INITS = ("uniform_", "normal_")


def _unchanged(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
    return tensor


@contextlib.contextmanager
def weights_not_drawn() -> Iterator[None]:
    """Construct modules without drawing random initial weights (process-wide while it lasts: only
    the worker thread touches torch during the load)."""
    saved = {name: getattr(torch.Tensor, name) for name in _DRAWING_INITS}
    for name in _DRAWING_INITS:
        setattr(torch.Tensor, name, _unchanged)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def _load_t3(weights_dir: Path, device: str) -> Any:
    from chatterbox.models.t3 import T3
    from safetensors.torch import load_file

    with weights_not_drawn():
        t3 = T3()
    state: Any = load_file(weights_dir / "t3_cfg.safetensors")
    if "model" in state:  # from_local accepts a checkpoint wrapped this way too
        state = state["model"][0]
    t3.load_state_dict(state)  # strict: every parameter the init skipped is written here
    return t3.to(device).eval()


def _load_s3gen(weights_dir: Path, device: str) -> Any:
    from chatterbox.models.s3gen import S3Gen
    from safetensors.torch import load_file

    state = load_file(weights_dir / "s3gen.safetensors")
    with weights_not_drawn():
        s3gen = S3Gen()
    # 0.1.7 names the buffers its released file leaves out (the tokenizer's mel filters and
    # window): computed at construction, never drawn, so building without draws keeps them right.
    computed = set(getattr(type(s3gen), "ignore_state_dict_missing", ()))
    missing = [key for key in s3gen.load_state_dict(state, strict=False).missing_keys if key not in computed]
    if missing:
        log.warning(
            "s3gen.safetensors lacks some of S3Gen's keys: building S3Gen with its random init, as from_local does",
            extra={"missing_keys": missing[:20], "missing": len(missing)},
        )
        s3gen = S3Gen()
        s3gen.load_state_dict(state, strict=False)
    return s3gen.to(device).eval()


def load_chatterbox(weights_dir: Path, device: str) -> Any:
    """A ChatterboxTTS equal to `ChatterboxTTS.from_local(weights_dir, device)`."""
    from chatterbox.models.tokenizers import EnTokenizer
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts import ChatterboxTTS, Conditionals
    from safetensors.torch import load_file

    map_location = torch.device("cpu") if device in ("cpu", "mps") else None
    ve = VoiceEncoder()
    ve.load_state_dict(load_file(weights_dir / "ve.safetensors"))
    ve.to(device).eval()
    t3 = _load_t3(weights_dir, device)
    s3gen = _load_s3gen(weights_dir, device)
    tokenizer = EnTokenizer(str(weights_dir / "tokenizer.json"))
    conds = None
    if (builtin_voice := weights_dir / "conds.pt").exists():
        conds = Conditionals.load(builtin_voice, map_location=map_location).to(device)
    return ChatterboxTTS(t3, s3gen, ve, tokenizer, device, conds=conds)
