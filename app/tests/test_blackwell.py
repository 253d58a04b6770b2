"""The Blackwell patches: equal numbers, idempotent, and no complex abs left on the model path.

On the CPU every op runs on the CPU, so the interception check records, for each abs on a complex
tensor, whether it ran inside the patch's declared CPU fallback (x-vector fbank) or on the model's
own path (which on a GPU is a CUDA tensor, compiled by NVRTC). The same check on a GPU machine
(docs/BENCHMARKS.md) asserts that no complex abs touches a CUDA tensor.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chatterbox_shim import blackwell

# Tolerances: log-mel compares |X|^2 computed as re^2+im^2 against abs()^2 (one sqrt and square
# apart, float32): 1e-5 absolute on log10-scaled values. fbank features are the same CPU op on the
# same data whichever device asked for them: exact.
LOG_MEL_ATOL = 1e-5


@pytest.fixture
def unpatched():
    blackwell.remove_patches()
    yield
    blackwell.remove_patches()


def _audio(seconds: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(int(16000 * seconds), generator=generator)


def test_log_mel_equals_original(unpatched):
    from chatterbox.models.s3tokenizer.s3tokenizer import S3Tokenizer

    tokenizer = S3Tokenizer()
    for seed in range(3):
        audio = _audio(2.5, seed)
        original = tokenizer.log_mel_spectrogram(audio)
        blackwell.apply_patches()
        patched = tokenizer.log_mel_spectrogram(audio)
        blackwell.remove_patches()
        assert patched.shape == original.shape
        assert torch.allclose(patched, original, atol=LOG_MEL_ATOL, rtol=0)


def test_extract_feature_equals_original(unpatched):
    from chatterbox.models.s3gen import xvector

    audio = torch.stack([_audio(1.0, 5), _audio(1.0, 6)])
    original = xvector.extract_feature(audio)
    blackwell.apply_patches()
    patched = xvector.extract_feature(audio)
    assert torch.equal(patched[0], original[0])
    assert patched[1:] == original[1:]
    assert patched[0].device == audio.device


def test_apply_is_idempotent(unpatched):
    from chatterbox.models.s3gen import xvector
    from chatterbox.models.s3tokenizer.s3tokenizer import S3Tokenizer

    original_method = S3Tokenizer.log_mel_spectrogram
    blackwell.apply_patches()
    first = (S3Tokenizer.log_mel_spectrogram, xvector.extract_feature)
    blackwell.apply_patches()
    assert (S3Tokenizer.log_mel_spectrogram, xvector.extract_feature) == first
    assert blackwell.patches_applied()
    blackwell.remove_patches()
    assert S3Tokenizer.log_mel_spectrogram is original_method
    assert not blackwell.patches_applied()


def test_policy_decisions():
    assert blackwell.decide("on", "cpu").enabled is True
    assert blackwell.decide("off", "cuda").enabled is False
    auto = blackwell.decide("auto", "cpu")
    assert auto.enabled is False
    assert "no CUDA" in auto.reason


def test_recorder_sees_complex_abs():
    with blackwell.record_complex_abs() as recorder:
        torch.stft(torch.randn(4000), 400, 160, window=torch.hann_window(400), return_complex=True).abs()
        torch.randn(10).abs()
    assert len(recorder.calls) == 1
    assert recorder.calls[0].device == "cpu"


@pytest.mark.slow
def test_prepare_conditionals_has_no_complex_abs_on_the_model_path(unpatched, test_bundle, test_voices):
    from chatterbox.tts import ChatterboxTTS

    model = ChatterboxTTS.from_local(test_bundle, "cpu")
    reference = str(test_voices / "samantha_evolving.wav")

    with blackwell.record_complex_abs() as without:
        model.prepare_conditionals(reference)
    unpatched_conds = model.conds
    # Both sites fire without the patches: the S3 tokenizer (twice: T3 prompt and S3Gen reference)
    # and the x-vector fbank.
    assert len(without.on_model_path) >= 2

    blackwell.apply_patches()
    with blackwell.record_complex_abs() as patched:
        model.prepare_conditionals(reference)
    assert patched.on_model_path == []
    assert patched.calls, "the x-vector fbank still runs, inside the CPU fallback"
    assert all(call.device == "cpu" for call in patched.calls)

    # Same conditionals either way.
    assert torch.equal(model.conds.t3.cond_prompt_speech_tokens, unpatched_conds.t3.cond_prompt_speech_tokens)
    assert torch.equal(model.conds.gen["prompt_token"], unpatched_conds.gen["prompt_token"])
    np.testing.assert_allclose(
        model.conds.gen["embedding"].detach().numpy(),
        unpatched_conds.gen["embedding"].detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
def test_on_cuda_no_complex_abs_touches_the_gpu(unpatched, test_bundle, test_voices):
    from chatterbox.tts import ChatterboxTTS

    model = ChatterboxTTS.from_local(test_bundle, "cuda")
    reference = str(test_voices / "samantha_evolving.wav")
    with blackwell.record_complex_abs() as without:
        model.prepare_conditionals(reference)
    assert any(call.device.startswith("cuda") for call in without.calls)

    blackwell.apply_patches()
    with blackwell.record_complex_abs() as patched:
        model.prepare_conditionals(reference)
    assert not any(call.device.startswith("cuda") for call in patched.calls)
    assert patched.calls
    assert all(call.in_cpu_fallback for call in patched.calls)
