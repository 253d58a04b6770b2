"""The fast T3 decode path against 0.1.7's own loop, on the random-weights bundle.

On the CPU (CI) the fast decoder runs eagerly on a short budget; on a CUDA machine the same tests
run the captured graphs over the 10 benchmark sentences. Bounds: fp32 teacher-forced logits within
1e-4 relative (max |fast - ref| / max |ref| per step; measured about 1e-6), identical greedy and
seeded-sampling tokens, and identical waveforms from identical tokens (S3Gen is shared code).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from chatterbox_shim.engines import equivalence
from chatterbox_shim.engines.base import SynthesisParams, TokenCap
from chatterbox_shim.engines.chatterbox import ChatterboxEngine
from chatterbox_shim.engines.decoders import FastDecoder, ReferenceDecoder
from chatterbox_shim.engines.equivalence import MAX_RELATIVE_ERROR
from chatterbox_shim.engines.fast_t3 import FastT3Decoder
from chatterbox_shim.sentences import default_sentences
from chatterbox_shim.voices import load_allowlist

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# CPU: a short budget and one sentence keep CI to a few minutes; the GPU runs the full set.
BUDGET = 120 if CUDA else 12
SENTENCES = default_sentences() if CUDA else default_sentences()[:1]
VOICE = "samantha_evolving"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(test_bundle: Path, test_voices: Path) -> ChatterboxEngine:
    if not CUDA:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    eng = ChatterboxEngine(
        test_bundle,
        load_allowlist(test_voices),
        device=DEVICE,
        token_cap=TokenCap(ceiling=BUDGET),
        decode_path="fast",
        # CPU: a smaller static cache keeps the too-long-prompt case short (conditioning is 34 tokens).
        fast_max_prompt_tokens=384 if CUDA else 128,
    )
    eng.load()
    assert eng.decode_path == "fast", f"start-up check refused the fast path: {eng.fast_check_error}"
    return eng


def _second_decoder(engine: ChatterboxEngine, variant: str) -> FastT3Decoder:
    """Another decoder of the given layer variant on the served one's model and sizes."""
    served = engine.fast
    assert served is not None
    return FastT3Decoder(
        engine.model.t3,
        max_prompt_tokens=served.max_len - served.max_new_tokens - 1,
        max_new_tokens=served.max_new_tokens,
        variant=variant,
    )


def _decode_both(engine: ChatterboxEngine, text: str, *, greedy: bool, seed: int | None) -> tuple[list[int], list[int]]:
    if seed is not None:
        torch.manual_seed(seed)
    reference = equivalence.reference_tokens(engine, text, VOICE, BUDGET, greedy=greedy)
    if seed is not None:
        torch.manual_seed(seed)
    fast = equivalence.fast_tokens(engine, engine.fast, text, VOICE, BUDGET, greedy=greedy)
    return reference.tokens[0].tolist(), fast.tokens[0].tolist()


def test_startup_check_passed_within_the_bound(engine: ChatterboxEngine) -> None:
    assert engine.fast_check_error is not None
    assert engine.fast_check_error <= MAX_RELATIVE_ERROR["float32"]
    assert engine.describe()["decode_path"] == "fast"
    if CUDA:
        assert engine.fast.graphs, "no CUDA graph was captured"
        assert engine.graph_capture_seconds > 0


def test_teacher_forced_logits_match_per_step(engine: ChatterboxEngine) -> None:
    steps = 64 if CUDA else 8
    errors = equivalence.teacher_forced_errors(engine, engine.fast, SENTENCES[-1], VOICE, steps, graphs=CUDA)
    assert len(errors) == steps - 1
    assert max(errors) <= MAX_RELATIVE_ERROR["float32"], errors


@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_greedy_tokens_are_identical(engine: ChatterboxEngine, index: int) -> None:
    reference, fast = _decode_both(engine, SENTENCES[index], greedy=True, seed=None)
    assert fast == reference


@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_seeded_sampling_gives_identical_tokens(engine: ChatterboxEngine, index: int) -> None:
    reference, fast = _decode_both(engine, SENTENCES[index], greedy=False, seed=1234 + index)
    assert fast == reference


def test_identical_tokens_give_the_same_waveform(engine: ChatterboxEngine) -> None:
    params = SynthesisParams(SENTENCES[0], VOICE, seed=99)
    served, engine.decoder = engine.decoder, ReferenceDecoder()
    try:
        reference = engine.synthesize(params)
    finally:
        engine.decoder = served
    fast = engine.synthesize(params)
    assert fast.speech_tokens == reference.speech_tokens
    assert fast.wav.shape == reference.wav.shape
    # Same tokens and seed into the same S3Gen: equal to float rounding (stated bound 1e-4).
    assert float(np.max(np.abs(fast.wav - reference.wav))) <= 1e-4


def test_a_prompt_too_long_for_the_static_cache_uses_the_reference_path(engine: ChatterboxEngine) -> None:
    long_text = "word " * (engine.fast_max_prompt_tokens + 10)
    out = engine.synthesize(SynthesisParams(long_text, VOICE, seed=3), max_new_tokens=4)
    assert out.speech_tokens is not None
    assert out.speech_tokens <= 4


def test_fused_matrices_are_the_module_weights_not_copies(engine: ChatterboxEngine) -> None:
    layer = engine.model.t3.tfmr.layers[0]
    fused = engine.fast.w.layers[0]
    qkv, gate_up = fused["qkv"], fused["gate_up"]
    step = qkv.shape[1] * qkv.element_size()
    assert layer.self_attn.q_proj.weight.data_ptr() == qkv.data_ptr()
    assert layer.self_attn.k_proj.weight.data_ptr() == qkv.data_ptr() + layer.self_attn.q_proj.weight.shape[0] * step
    assert layer.mlp.gate_proj.weight.data_ptr() == gate_up.data_ptr()
    assert layer.mlp.up_proj.weight.data_ptr() == gate_up.data_ptr() + layer.mlp.gate_proj.weight.shape[0] * step


def test_the_unfused_layer_gives_the_same_greedy_tokens(engine: ChatterboxEngine) -> None:
    """Issue 6's op-for-op layer ("v1") and the fused layer, from one prompt: same tokens; a second
    decoder on the same model finds the fused matrices again instead of copying them."""
    served = engine.fast
    other = _second_decoder(engine, "v1")
    assert other.w.layers[0]["qkv"].data_ptr() == served.w.layers[0]["qkv"].data_ptr()
    fused = equivalence.fast_tokens(engine, served, SENTENCES[0], VOICE, BUDGET, greedy=True).tokens[0].tolist()
    unfused = equivalence.fast_tokens(engine, other, SENTENCES[0], VOICE, BUDGET, greedy=True).tokens[0].tolist()
    assert unfused == fused


@pytest.mark.skipif(not CUDA, reason="S3Gen graphs are CUDA only")
def test_s3gen_graph_replay_matches_eager(engine: ChatterboxEngine) -> None:
    assert engine.s3gen_graphs is not None, "the S3Gen start-up check refused graph replay"
    assert engine.s3gen_check_error is not None
    assert engine.s3gen_check_error <= 1e-4
    params = SynthesisParams(SENTENCES[1], VOICE, seed=5)
    replays = engine.s3gen_graphs.replays
    graphed = engine.synthesize(params)
    assert engine.s3gen_graphs.replays > replays
    engine.s3gen_graphs.enabled = False
    try:
        eager = engine.synthesize(params)
    finally:
        engine.s3gen_graphs.enabled = True
    assert graphed.wav.shape == eager.wav.shape
    assert float(np.max(np.abs(graphed.wav - eager.wav))) <= 1e-4


@pytest.mark.skipif(not CUDA, reason="S3Gen graphs are CUDA only")
def test_one_bucket_graph_serves_every_length_in_its_bucket(engine: ChatterboxEngine) -> None:
    """Two lengths in one bucket share a graph (the second captures nothing); a length in the next
    bucket gets its own; every waveform is within 1e-4 of eager S3Gen from the same tokens."""
    from chatterbox_shim.engines.s3gen_graphs import padded_frames

    wrapper = engine.s3gen_graphs
    assert wrapper is not None
    ref = engine._conds[VOICE].gen
    prompt = ref["prompt_feat"].shape[1]
    bucket_end = padded_frames(prompt + 2 * 700)  # longer than any other test asks, so not yet captured
    first = (bucket_end - 30 - prompt) // 2  # estimator frames = prompt + 2 * tokens
    lengths = [first, first + 5, (bucket_end + 20 - prompt) // 2]
    assert padded_frames(prompt + 2 * lengths[0]) == padded_frames(prompt + 2 * lengths[1]) == bucket_end
    assert padded_frames(prompt + 2 * lengths[2]) > bucket_end
    captures = []
    for index, length in enumerate(lengths):
        tokens = torch.randint(0, 6561, (length,), generator=torch.Generator().manual_seed(index)).to(DEVICE)
        waves = {}
        for enabled in (False, True):
            wrapper.enabled = enabled
            torch.manual_seed(index)
            waves[enabled], _ = engine.model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
        wrapper.enabled = True
        captures.append(wrapper.captures)
        assert float((waves[True] - waves[False]).abs().max()) <= 1e-4, length
    assert captures[1] == captures[0], "a second length in a captured bucket captured again"
    assert captures[2] == captures[1] + 1


def test_a_failing_fast_path_set_up_serves_the_reference_loop(
    engine: ChatterboxEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in the fast path's set-up (an OOM, an op GB10 lacks) must not fail the service."""
    from chatterbox_shim.engines import chatterbox as module

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory (injected)")

    served = engine.decoder
    monkeypatch.setattr(module, "FastT3Decoder", out_of_memory)
    try:
        with caplog.at_level("ERROR"):
            engine._set_up_decoder_or_fall_back()
        assert engine.fast is None
        assert engine.decode_path == "reference"
        facts = engine.describe()
        assert facts["decode_path"] == "reference"
        assert facts["fast_path_error"] == "RuntimeError: CUDA out of memory (injected)"
        assert "fast decode path set-up failed: serving the reference path" in caplog.text
        out = engine.synthesize(SynthesisParams(SENTENCES[0], VOICE, seed=1), max_new_tokens=4)
        assert out.speech_tokens is not None
        assert 0 < out.speech_tokens <= 4
    finally:
        engine.decoder, engine.fast_setup_error = served, None


def test_the_decode_choice_is_one_decoder_and_the_stop_override_is_per_call(engine: ChatterboxEngine) -> None:
    """The engine holds one Decoder, chosen at start-up; decoding to the cap is a per-call option
    (benchmarks) that leaves the model's own stop token as it was."""
    assert isinstance(engine.decoder, FastDecoder)
    assert engine.fast is engine.decoder.fast
    stop = engine.model.t3.hp.stop_speech_token
    out = engine.synthesize(SynthesisParams(SENTENCES[0], VOICE, seed=11), max_new_tokens=6, ignore_stop_token=True)
    assert out.speech_tokens == 6
    assert engine.model.t3.hp.stop_speech_token == stop


def test_the_decode_kernels_serve_on_a_gpu_and_the_fused_layer_elsewhere(engine: ChatterboxEngine) -> None:
    fast = engine.fast
    assert fast is not None
    layers = len(engine.model.t3.tfmr.layers)
    if CUDA:
        assert fast.variant == "kernels", f"the prebuilt kernels did not load: {fast.kernels_unavailable}"
        assert fast.kernel_layers is not None
        assert len(fast.kernel_layers.launches) == 5 * layers + 1
        assert engine.describe()["decode_layer"] == "kernels"
    else:
        assert fast.variant == "fused"
        assert fast.kernels_unavailable == "the kernels need a CUDA device"
        assert engine.describe()["decode_kernels_unavailable"] == "the kernels need a CUDA device"


@pytest.mark.skipif(not CUDA, reason="the kernels run on a CUDA device")
def test_the_fused_torch_layer_gives_the_kernels_greedy_tokens(engine: ChatterboxEngine) -> None:
    served = engine.fast
    assert served is not None
    fused = _second_decoder(engine, "fused")
    for text in SENTENCES[:3]:
        by_kernels = equivalence.fast_tokens(engine, served, text, VOICE, BUDGET, greedy=True).tokens[0].tolist()
        by_torch = equivalence.fast_tokens(engine, fused, text, VOICE, BUDGET, greedy=True).tokens[0].tolist()
        assert by_kernels == by_torch


@pytest.mark.skipif(not CUDA, reason="the kernels run on a CUDA device")
def test_a_dropped_kernels_decoder_frees_its_cache_at_once(engine: ChatterboxEngine) -> None:
    """No reference cycle between the decoder and its kernel launches: a fallback to the fused
    layer must not hold two static caches until the garbage collector runs."""
    import weakref

    other = _second_decoder(engine, "kernels")
    assert other.kernel_layers is not None
    gone = weakref.ref(other)
    del other
    assert gone() is None


def test_kernels_that_fail_their_set_up_give_way_to_the_fused_layer_naming_why(
    engine: ChatterboxEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = engine._checked_fast_decoder

    def kernels_fail(variant: str):  # type: ignore[no-untyped-def]
        if variant == "kernels":
            raise RuntimeError("cuLaunchKernelEx: an illegal memory access (injected)")
        return checked(variant)

    monkeypatch.setattr(engine, "_checked_fast_decoder", kernels_fail)
    try:
        engine.set_up_decoder("kernels")
        assert engine.decode_path == "fast"
        facts = engine.describe()
        assert facts["decode_layer"] == "fused"
        injected = "RuntimeError: cuLaunchKernelEx: an illegal memory access (injected)"
        assert facts["decode_kernels_unavailable"] == injected
    finally:
        monkeypatch.undo()
        engine.set_up_decoder("kernels")
    assert engine.decode_path == "fast"


@pytest.mark.skipif(not CUDA, reason="S3Gen graphs are CUDA only")
def test_bucket_graphs_refused_at_start_up_fall_back_to_exact_shape_graphs(
    engine: ChatterboxEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If padded shapes moved the waveform past the bound (another GPU, other cuDNN algorithms),
    S3Gen keeps graphs of each call's exact shape, not eager S3Gen, and still matches eager."""
    served = engine.s3gen_graphs
    real_check = engine._checked_s3gen_graphs

    def buckets_refused(bucket_frames: int) -> tuple[object, float | None]:
        if bucket_frames > 1:
            return None, 1.0
        return real_check(bucket_frames)

    monkeypatch.setattr(engine, "_checked_s3gen_graphs", buckets_refused)
    try:
        engine.set_up_s3gen()
        wrapper = engine.s3gen_graphs
        assert wrapper is not None
        assert wrapper.bucket_frames == 1
        assert engine.s3gen_check_error is not None
        assert engine.s3gen_check_error <= 1e-4
        params = SynthesisParams(SENTENCES[2], VOICE, seed=3)
        graphed = engine.synthesize(params)
        assert len(wrapper.graphs) == 1  # exact shapes: only the latest graph is kept
        wrapper.enabled = False
        eager = engine.synthesize(params)
        wrapper.enabled = True
        assert float(np.max(np.abs(graphed.wav - eager.wav))) <= 1e-4
    finally:
        from chatterbox_shim.engines import s3gen_graphs

        s3gen_graphs.uninstall(engine.model.s3gen)
        if served is not None:
            engine.model.s3gen.flow.decoder.estimator = served
        engine.s3gen_graphs = served
