"""The Perth watermark step keeps no memory behind (resemble-perth runs its encoder with autograd
on; each call used to keep several MiB of host memory, found by the load benchmark)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from chatterbox_shim.contract import SAMPLE_RATE

perth = pytest.importorskip("perth")


def _rss_mib() -> float:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


def test_watermark_without_autograd_is_identical_and_leaves_nothing_behind():
    from chatterbox_shim.engines.chatterbox import apply_watermark

    watermarker = perth.PerthImplicitWatermarker()
    wav = (np.random.default_rng(7).standard_normal(4 * SAMPLE_RATE) * 0.1).astype(np.float32)
    ours = apply_watermark(watermarker, wav, SAMPLE_RATE)
    np.testing.assert_array_equal(ours, np.asarray(watermarker.apply_watermark(wav, sample_rate=SAMPLE_RATE)))

    apply_watermark(watermarker, wav, SAMPLE_RATE)
    start = _rss_mib()
    for _ in range(15):
        apply_watermark(watermarker, wav, SAMPLE_RATE)
    ours_growth = _rss_mib() - start

    # The control: the package's own call, measured the same way, does keep memory.
    start = _rss_mib()
    for _ in range(15):
        watermarker.apply_watermark(wav, sample_rate=SAMPLE_RATE)
    plain_growth = _rss_mib() - start
    assert ours_growth < 12, f"{ours_growth:.1f} MiB kept over 15 watermarks"
    assert plain_growth > 30, f"the control kept only {plain_growth:.1f} MiB: the measurement is not telling"
