"""SHIM_GPU_MEMORY_LIMIT on a real GPU: a cap the model fits in is applied and reported; one it does
not fit in stops the start naming the cap (never a service that half-loads and then answers)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import torch

from .conftest import chatterbox_env, free_port, start_shim

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="the cap applies to a CUDA device"),
]


def test_a_cap_the_model_fits_in_is_applied_and_reported(test_bundle, test_voices, tmp_path):
    total = torch.cuda.get_device_properties(0).total_memory
    env = chatterbox_env(test_bundle, test_voices, SHIM_GPU_MEMORY_LIMIT="0.5")
    shim = start_shim(tmp_path, env, wait_for="/ready", timeout=600)
    try:
        health = httpx.get(shim.url + "/health", timeout=10).json()
        assert health["gpu_memory_cap_bytes"] == int(0.5 * total)
        assert shim.post({"text": "Capped and still speaking."}, token=shim.token).status_code == 200
    finally:
        shim.process.terminate()
        shim.process.wait(30)


def test_a_cap_the_model_does_not_fit_in_stops_the_start(test_bundle, test_voices):
    env = chatterbox_env(
        test_bundle,
        test_voices,
        SHIM_GPU_MEMORY_LIMIT="1GiB",
        SHIM_FAILED_EXIT_AFTER_SECONDS="0",
        SHIM_PORT=str(free_port()),
    )
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode != 0
    assert "do not fit in SHIM_GPU_MEMORY_LIMIT" in result.stdout + result.stderr
