"""S3Gen's estimator graphs are shared by every length in a bucket: padding must be exact.

The claim in engines/s3gen_graphs.py is structural: the estimator's convolutions are causal, its
norms are per frame, and masked frames get zero attention weight, so frames appended after a call
(masked out) cannot change the call's own frames. This runs the real estimator of the test bundle
(random weights of the true shapes) on the CPU, where no TF32 or algorithm choice blurs the answer,
so it holds in CI without a GPU. The graph replay itself is covered on a GPU (test_fast_decode).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chatterbox_shim.engines.s3gen_graphs import BUCKET_FRAMES, padded_frames


@pytest.fixture(scope="module")
def estimator(test_bundle: Path) -> torch.nn.Module:
    from chatterbox.models.s3gen import S3Gen
    from safetensors.torch import load_file

    s3gen = S3Gen()
    s3gen.load_state_dict(load_file(test_bundle / "s3gen.safetensors"), strict=False)
    return s3gen.flow.decoder.estimator.eval()


def _call(frames: int, seed: int) -> dict[str, torch.Tensor]:
    """One CFG-batched estimator call as 0.1.7's solver makes it (the second half unconditioned)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 80, frames, generator=generator)
    mu = torch.randn(1, 80, frames, generator=generator)
    cond = torch.randn(1, 80, frames, generator=generator)
    spks = torch.randn(1, 80, generator=generator)
    return {
        "x": torch.cat([x, x]),
        "mask": torch.ones(2, 1, frames),
        "mu": torch.cat([mu, torch.zeros_like(mu)]),
        "t": torch.full((2,), 0.3),
        "spks": torch.cat([spks, torch.zeros_like(spks)]),
        "cond": torch.cat([cond, torch.zeros_like(cond)]),
    }


def _padded(call: dict[str, torch.Tensor], frames: int, tail: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in call.items():
        if value.dim() != 3:
            out[name] = value
            continue
        extra = frames - value.shape[-1]
        filler = torch.zeros if tail == "zeros" or name == "mask" else (lambda *s: 5 * torch.randn(*s))
        out[name] = torch.cat([value, filler(*value.shape[:-1], extra)], dim=-1)
    return out


def test_padded_frames_rounds_up_to_the_bucket() -> None:
    assert padded_frames(1) == BUCKET_FRAMES
    assert padded_frames(BUCKET_FRAMES) == BUCKET_FRAMES
    assert padded_frames(BUCKET_FRAMES + 1) == 2 * BUCKET_FRAMES


@pytest.mark.parametrize("frames", [37, 130])
@pytest.mark.parametrize("tail", ["zeros", "noise"])
def test_masked_padding_leaves_the_call_s_frames_unchanged(estimator: torch.nn.Module, frames: int, tail: str) -> None:
    """Zeros or loud noise in the padded frames (a stale buffer): the call's frames are the same."""
    call = _call(frames, seed=frames)
    with torch.inference_mode():
        alone = estimator(**call)
        padded = estimator(**_padded(call, padded_frames(frames) + BUCKET_FRAMES, tail))
    assert padded.shape[-1] > alone.shape[-1]
    difference = float((padded[..., :frames] - alone).abs().max())
    assert difference <= 1e-5 * float(alone.abs().max()), difference
    assert float(padded[..., frames:].abs().max()) == 0.0  # the output is masked too


def test_unmasked_padding_would_change_the_answer(estimator: torch.nn.Module) -> None:
    """The mask is what makes padding exact: the same frames left unmasked change the call's frames
    (attention reads them), so the test above is not passing by accident."""
    frames = 37
    call = _call(frames, seed=1)
    padded = _padded(call, padded_frames(frames), "noise")
    padded["mask"] = torch.ones_like(padded["mask"])
    with torch.inference_mode():
        alone = estimator(**call)
        unmasked = estimator(**padded)
    assert float((unmasked[..., :frames] - alone).abs().max()) > 1e-3
