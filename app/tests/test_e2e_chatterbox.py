"""End to end with the real ChatterboxEngine on the CPU over the random-weights test bundle.

The real service process verifies the bundle, loads chatterbox 0.1.7, prepares the espeak-ng
voice, runs its warm-up synthesis, and then answers over HTTP on 127.0.0.1. The token ceiling is
kept small so that the CPU decode stays within CI time; the token cap formula is covered by
test_token_cap.py.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from chatterbox_panda_kit import contract as c
from chatterbox_shim.audio import from_pcm16

from .conftest import TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chatterbox_shim(test_bundle, test_voices, tmp_path_factory):
    from .conftest import chatterbox_env, start_shim, stop_shim

    env = chatterbox_env(test_bundle, test_voices, SHIM_DEVICE="cpu", SHIM_MAX_SPEECH_TOKENS="8")
    shim = start_shim(tmp_path_factory.mktemp("e2e"), env, wait_for="/ready", timeout=600)
    yield shim
    stop_shim(shim)


def test_ready_means_loaded_voices_prepared_and_warmed(chatterbox_shim):
    health = httpx.get(chatterbox_shim.url + c.HEALTH_PATH).json()
    assert health["engine"] == "chatterbox"
    assert health["device"] == "cpu"
    assert health["blackwell_patches"] is False  # auto: no CUDA device
    ready = httpx.get(chatterbox_shim.url + c.READY_PATH).json()
    assert ready["voices"] == ["samantha_evolving", "samantha_hello", "samantha_name"]
    log = chatterbox_shim.log_text()
    assert log.count('"msg": "voice prepared"') == 3
    assert '"msg": "warm-up synthesis passed"' in log


def test_real_engine_synthesis_over_http(chatterbox_shim):
    response = chatterbox_shim.post({"text": "Hello from Titan.", "seed": 11}, token=TOKEN)
    assert response.status_code == 200, response.text
    body = response.content
    samples = len(body) // 2
    assert len(body) == int(response.headers["content-length"]) == 2 * samples
    assert response.headers["x-audio-duration"] == f"{samples / c.SAMPLE_RATE:.3f}"
    assert response.headers["content-type"] == c.PCM_CONTENT_TYPE
    wav = from_pcm16(body)
    assert samples > 2400
    assert 20 * np.log10(np.sqrt(np.mean(wav**2))) > -60.0


def test_same_seed_same_audio_other_voice_differs(chatterbox_shim):
    first = chatterbox_shim.post({"text": "Seeded.", "seed": 5}, token=TOKEN)
    second = chatterbox_shim.post({"text": "Seeded.", "seed": 5}, token=TOKEN)
    other = chatterbox_shim.post({"text": "Seeded.", "seed": 5, "voice": "samantha_hello.wav"}, token=TOKEN)
    assert first.status_code == second.status_code == other.status_code == 200
    assert first.content == second.content
    assert other.content != first.content
