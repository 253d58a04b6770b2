"""The Perth watermark step builds no autograd graph (resemble-perth runs its encoder with
autograd on; under load each call kept several MiB of host memory, found by the load benchmark:
docs/RELIABILITY.md has the figures)."""

from __future__ import annotations

import numpy as np
import pytest

from chatterbox_panda_kit.contract import SAMPLE_RATE

perth = pytest.importorskip("perth")


def test_watermark_without_autograd_is_identical_and_builds_no_graph():
    import torch

    from chatterbox_shim.engines.chatterbox import apply_watermark

    watermarker = perth.PerthImplicitWatermarker()
    seen: list[bool] = []

    def record(_module: object, _inputs: object, output: object) -> None:
        first = output[0] if isinstance(output, tuple) else output
        seen.append(bool(first.requires_grad) or first.grad_fn is not None)

    handle = watermarker.perth_net.encoder.register_forward_hook(record)
    try:
        wav = (np.random.default_rng(7).standard_normal(4 * SAMPLE_RATE) * 0.1).astype(np.float32)
        ours = apply_watermark(watermarker, wav, SAMPLE_RATE)
        theirs = np.asarray(watermarker.apply_watermark(wav, sample_rate=SAMPLE_RATE))
    finally:
        handle.remove()
    np.testing.assert_array_equal(ours, theirs)
    # Ours: no graph. The control, the package's own call: a graph (the memory it kept).
    assert seen == [False, torch.is_grad_enabled()]
    assert seen[1], "the control built no graph: autograd is off in this process, the test proves nothing"
