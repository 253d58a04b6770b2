"""chatterbox-shim-acceptance: each check passes, fails or is unproven, and the exit code says so.
The lab engine and the real model on the CPU here; on a GPU every check must pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from chatterbox_shim.acceptance import run
from chatterbox_shim.sentences import default_sentences
from chatterbox_shim.settings import load_settings

from .conftest import chatterbox_env, shim_env

GPU_CHECKS = {"blackwell_patches", "fast_path", "gpu_memory"}


def _settings(monkeypatch, env):
    for key in list(os.environ):
        if key.startswith(("SHIM_", "CHATTERBOX_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("SHIM_", "CHATTERBOX_")):
            monkeypatch.setenv(key, value)
    return load_settings()[0]


def test_the_lab_engine_passes_what_it_can_and_leaves_the_gpu_unproven(monkeypatch):
    report = run(_settings(monkeypatch, shim_env()), default_sentences()[:2], require_gpu=False)
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes["start_up"] == "passed"
    assert outcomes["synthesis"] == "passed"
    assert report.names("failed") == []
    assert set(report.names("unproven")) >= GPU_CHECKS
    assert report.to_dict()["versions"]["pinned_cuda"] == "12.8"
    assert report.to_dict()["time_to_ready_s"] is not None


def test_a_required_gpu_that_is_missing_fails_the_command():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.acceptance", "--require-gpu", "--sentences", "1"],
        env=shim_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "gpu" in report["failed"]
    assert "FAIL gpu: no CUDA device" in result.stderr


def test_bad_settings_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.acceptance"],
        env=shim_env(SHIM_GPU_MEMORY_LIMIT="lots"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SHIM_GPU_MEMORY_LIMIT" in result.stderr


# On the CPU the real model's start-up and synthesis are the e2e tests' subject already (minutes here).
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the GPU checks need a CUDA device")
def test_every_check_passes_on_a_gpu(monkeypatch, test_bundle, test_voices):
    env = chatterbox_env(test_bundle, test_voices)
    report = run(_settings(monkeypatch, env), default_sentences()[:3], require_gpu=True)
    assert report.names("failed") == [], report.to_dict()
    assert report.names("unproven") == []
