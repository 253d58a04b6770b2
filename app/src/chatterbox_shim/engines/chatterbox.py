"""ChatterboxEngine: chatterbox-tts 0.1.7 driven module by module, one request at a time.

It follows ChatterboxTTS.generate() step for step with three differences that a server needs:
voices are prepared once at load and never re-prepared per request (generate() overwrites the
shared self.conds, so two voices could mix), the speech-token budget is capped by text length
instead of the hard-coded 1000, and the stages are timed.

T3's decode runs either 0.1.7's own loop (`reference`) or the graph-captured FastT3Decoder
(`fast`, engines/fast_t3.py). `auto` picks fast on CUDA. Whichever is asked for, the fast path
serves only after a start-up check on this very device: teacher-forced logits of both paths for
the warm-up sentence must agree within the bound below, otherwise the engine falls back to the
reference loop and says so in its log and on /health.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

# tqdm draws a progress bar per decode in 0.1.7's T3.inference; a service log has no use for it.
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch

from chatterbox_panda_kit.contract import EXAGGERATION_DEFAULT

from .. import blackwell
from ..audio import InvalidAudioError
from ..gpu_budget import AppliedLimit, MemoryLimit, apply_memory_limit
from ..voices import Voice
from . import s3gen_graphs
from .base import Engine, EngineOutput, SynthesisParams, TokenCap
from .decoders import Decoder, FastDecoder, ReferenceDecoder
from .equivalence import MAX_RELATIVE_ERROR, start_up_check
from .fast_t3 import DEFAULT_VARIANT, KERNEL_VARIANTS, FastT3Decoder
from .model_loading import load_chatterbox
from .s3gen_graphs import GraphedEstimator
from .sampling import Sampling

log = logging.getLogger(__name__)

SPEECH_VOCAB_LIMIT = 6561  # ids at or above are special tokens, dropped before S3Gen
START_OF_SPEECH, END_OF_SPEECH = SPEECH_VOCAB_LIMIT, SPEECH_VOCAB_LIMIT + 1  # 0.1.7's SOS and EOS

DecodePath = Literal["auto", "reference", "fast"]
DecodeDtype = Literal["float32", "bfloat16"]
# S3Gen start-up check: the waveform from graph-replayed estimator steps against the eager one, from
# the same tokens and seed (replays run the same kernels on the same shapes: measured 0).
S3GEN_CHECK_TOKENS = 40
S3GEN_MAX_ABS_ERROR = 1e-4


def speech_between_markers(tokens: torch.Tensor) -> torch.Tensor:
    """0.1.7's drop_invalid_tokens for one sequence (the tokens after the start-of-speech id, up to
    the end-of-speech id), also when an id was sampled more than once: 0.1.7 then raises TypeError
    (a 500 in a 9-minute H200 soak on random weights). Here the first of each counts; with one of
    each the result is 0.1.7's."""
    starts = (tokens == START_OF_SPEECH).nonzero()
    ends = (tokens == END_OF_SPEECH).nonzero()
    first = int(starts[0, 0]) + 1 if starts.numel() else 0
    last = int(ends[0, 0]) if ends.numel() else None
    return tokens[first:last]


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def apply_watermark(watermarker: Any, wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Chatterbox's Perth watermark, without autograd.

    resemble-perth runs its encoder with autograd on; measured on the CPU and on an H100, the
    process then keeps about 4-13 MiB of host memory per call for good (docs/RELIABILITY.md).
    inference_mode gives the same samples and leaves nothing behind.
    """
    with torch.inference_mode():
        return np.asarray(watermarker.apply_watermark(wav, sample_rate=sample_rate), dtype=np.float32)


class ChatterboxEngine(Engine):
    name = "chatterbox"

    def __init__(
        self,
        weights_dir: Path,
        voices: dict[str, Voice],
        *,
        device: str = "auto",
        patch_policy: blackwell.Policy = "auto",
        token_cap: TokenCap | None = None,
        decode_path: DecodePath = "auto",
        decode_dtype: DecodeDtype = "float32",
        fast_max_prompt_tokens: int = 384,
        fast_variant: str = DEFAULT_VARIANT,
        s3gen_graphs: bool = True,
        memory_limit: MemoryLimit | None = None,
    ) -> None:
        super().__init__()
        self._weights_dir = weights_dir
        self._voice_files = voices
        self.device = resolve_device(device)
        self._patch_policy = patch_policy
        self.token_cap = token_cap or TokenCap()
        self._model: Any = None
        self._conds: dict[str, Any] = {}
        self.patch_decision: blackwell.PatchDecision | None = None
        self.voice_prepare_seconds: dict[str, float] = {}
        self.decode_path_requested = decode_path
        self.decode_dtype = decode_dtype
        self.fast_max_prompt_tokens = fast_max_prompt_tokens
        # T3's decode strategy, chosen once at start-up (set_up_decoder).
        self.decoder: Decoder = ReferenceDecoder()
        # Why the fast path (or S3Gen's graphs) fell back to the reference code at start-up, if it did.
        self.fast_setup_error: str | None = None
        self.s3gen_setup_error: str | None = None
        self.fast_check_error: float | None = None
        self.graph_capture_seconds = 0.0
        self.fast_variant = fast_variant
        self.s3gen_graphs_requested = s3gen_graphs
        self.s3gen_graphs: GraphedEstimator | None = None
        self.s3gen_check_error: float | None = None
        self.load_stage_seconds: dict[str, float] = {}
        self._memory_limit = memory_limit
        self.memory_cap: AppliedLimit | None = None

    @property
    def voices(self) -> frozenset[str]:
        return frozenset(self._voice_files)

    @property
    def decode_path(self) -> str:
        return self.decoder.name

    @property
    def fast(self) -> FastT3Decoder | None:
        """The fast decoder when it serves (benches and tests read its buffers and graphs)."""
        return self.decoder.fast if isinstance(self.decoder, FastDecoder) else None

    def first_voice(self) -> str:
        return sorted(self._conds)[0]

    @property
    def model(self) -> Any:
        if self._model is None:
            raise RuntimeError("engine not loaded")
        return self._model

    def load(self) -> None:
        imports = time.perf_counter()
        import chatterbox.tts  # noqa: F401 (usually imported already, while the weights were hashed)

        started = time.perf_counter()
        self.patch_decision = blackwell.apply_policy(self._patch_policy, self.device)
        self.memory_cap = apply_memory_limit(self._memory_limit, self.device)
        try:
            self._model = load_chatterbox(self._weights_dir, self.device)
            loaded = time.perf_counter()
            log.info("model loaded", extra={"seconds": round(loaded - started, 3), "device": self.device})
            self._prepare_voices()
        except torch.cuda.OutOfMemoryError as exc:
            if self.memory_cap is None:
                raise
            raise RuntimeError(
                f"the model and its voices do not fit in SHIM_GPU_MEMORY_LIMIT ({self.memory_cap.limit}, "
                f"{self.memory_cap.cap_bytes / 2**30:.2f} GiB of this GPU): raise the limit"
            ) from exc
        voiced = time.perf_counter()
        self._set_up_decoder_or_fall_back()
        decoder = time.perf_counter()
        self._set_up_s3gen_or_fall_back()
        self.load_seconds = time.perf_counter() - started
        self.load_stage_seconds = {
            "imports": started - imports,
            "model": loaded - started,
            "voices": voiced - loaded,
            "t3_decoder": decoder - voiced,
            "s3gen_graphs": time.perf_counter() - decoder,
        }

    def _prepare_voices(self) -> None:
        for name, voice in sorted(self._voice_files.items()):
            voice_started = time.perf_counter()
            self.model.prepare_conditionals(str(voice.path), exaggeration=EXAGGERATION_DEFAULT)
            self._conds[name] = self.model.conds
            self.voice_prepare_seconds[name] = time.perf_counter() - voice_started
            log.info("voice prepared", extra={"voice": name, "seconds": round(self.voice_prepare_seconds[name], 3)})

    def _set_up_decoder_or_fall_back(self) -> None:
        """Any failure in the fast path's set-up, check or capture (OOM, an op GB10 lacks) serves
        0.1.7's reference loop instead of failing the service: the fast path is an optimisation."""
        try:
            self.set_up_decoder()
        except Exception as error:  # every failure here has the same safe answer
            self.decoder = ReferenceDecoder()
            self.fast_setup_error = f"{type(error).__name__}: {error}"[:300]
            self._release_cuda_memory()
            log.error(
                "fast decode path set-up failed: serving the reference path",
                extra={"error": self.fast_setup_error},
                exc_info=True,
            )

    def _set_up_s3gen_or_fall_back(self) -> None:
        try:
            self.set_up_s3gen()
        except Exception as error:  # eager S3Gen is always correct
            s3gen_graphs.uninstall(self.model.s3gen)
            self.s3gen_graphs = None
            self.s3gen_setup_error = f"{type(error).__name__}: {error}"[:300]
            self._release_cuda_memory()
            log.error("S3Gen graph set-up failed: eager S3Gen", extra={"error": self.s3gen_setup_error}, exc_info=True)

    def _release_cuda_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def set_up_s3gen(self) -> None:
        """Graph-replayed CFM estimator steps (CUDA only), kept only if the start-up check passes:
        length-bucket graphs first; if their padded shapes move the waveform past the bound, graphs
        of each call's exact shape (a capture per utterance, as before buckets); else eager."""
        if not (self.s3gen_graphs_requested and self.device.startswith("cuda")):
            return
        for bucket_frames in (s3gen_graphs.BUCKET_FRAMES, 1):
            wrapper, self.s3gen_check_error = self._checked_s3gen_graphs(bucket_frames)
            if wrapper is None:
                continue
            self.s3gen_graphs = wrapper
            log.info(
                "S3Gen graph replay checked",
                extra={"max_abs_error": self.s3gen_check_error, "bucket_frames": bucket_frames},
            )
            return

    def _checked_s3gen_graphs(self, bucket_frames: int) -> tuple[GraphedEstimator | None, float | None]:
        model = self.model
        tokens = torch.arange(S3GEN_CHECK_TOKENS, device=self.device) * 97 % SPEECH_VOCAB_LIMIT
        ref = self._conds[sorted(self._conds)[0]].gen
        rng = torch.random.get_rng_state(), torch.cuda.get_rng_state()
        s3gen_graphs.uninstall(model.s3gen)
        try:
            torch.manual_seed(0)
            eager, _ = model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
            wrapper = s3gen_graphs.install(model.s3gen, bucket_frames)
            if wrapper is None:
                return None, None
            torch.manual_seed(0)
            graphed, _ = model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
        finally:
            torch.random.set_rng_state(rng[0])
            torch.cuda.set_rng_state(rng[1])
        same_shape = graphed.shape == eager.shape
        error = float((graphed - eager).abs().max()) if same_shape else float("inf")
        if not wrapper.enabled or wrapper.replays == 0 or error > S3GEN_MAX_ABS_ERROR:
            log.error(
                "S3Gen graph replay disagrees with the eager path (or did not capture)",
                extra={"max_abs_error": error, "replays": wrapper.replays, "bucket_frames": bucket_frames},
            )
            s3gen_graphs.uninstall(model.s3gen)
            return None, error
        return wrapper, error

    def set_up_decoder(self, variant: str | None = None) -> None:
        """Choose T3's decoder: the fast one only if it passes the start-up check on this device.
        A bench may call it again with another variant (the previous decoder is dropped first)."""
        self.decoder = ReferenceDecoder()
        if variant is not None:
            self.decode_path_requested, self.fast_variant = "fast", variant
        wanted = self.decode_path_requested
        if wanted == "auto":
            wanted = "fast" if self.device.startswith("cuda") else "reference"
        if wanted == "reference":
            return
        self._release_cuda_memory()
        fast, passed = self._kernels_or_fused()
        bound = MAX_RELATIVE_ERROR[self.decode_dtype]
        if not passed:
            log.error(
                "fast decode path disagrees with the reference: serving the reference path",
                extra={"max_relative_error": self.fast_check_error, "bound": bound, "dtype": self.decode_dtype},
            )
            return
        self.decoder = FastDecoder(fast, self.fast_max_prompt_tokens)
        log.info(
            "fast decode path checked",
            extra={
                "max_relative_error": self.fast_check_error,
                "bound": bound,
                "dtype": self.decode_dtype,
                "graphs": len(fast.graphs),
                "capture_seconds": round(self.graph_capture_seconds, 3),
            },
        )

    def _kernels_or_fused(self) -> tuple[FastT3Decoder, bool]:
        """The requested layer, checked; kernels that disagree with the reference or fail in their
        set-up, check or capture give way to torch's fused layer, which records why."""
        if self.fast_variant not in KERNEL_VARIANTS:
            return self._checked_fast_decoder(self.fast_variant)
        fast: FastT3Decoder | None = None
        try:
            fast, passed = self._checked_fast_decoder(self.fast_variant)
            if passed or fast.variant not in KERNEL_VARIANTS:
                return fast, passed
            reason = f"start-up check failed: relative error {self.fast_check_error:.2e}"
        except Exception as error:  # the kernels are an optimisation: the fused layer is the answer
            reason = f"{type(error).__name__}: {error}"[:300]
        log.error("the decode kernels are not used: trying the fused torch layer", extra={"reason": reason})
        fast = None  # dropped before the fused layer's cache is allocated
        gc.collect()
        self._release_cuda_memory()
        fused, passed = self._checked_fast_decoder("fused")
        fused.kernels_unavailable = reason
        return fused, passed

    def _checked_fast_decoder(self, variant: str) -> tuple[FastT3Decoder, bool]:
        dtype = torch.float32 if self.decode_dtype == "float32" else torch.bfloat16
        fast = FastT3Decoder(
            self.model.t3,
            max_prompt_tokens=self.fast_max_prompt_tokens,
            max_new_tokens=self.token_cap.ceiling,
            dtype=dtype,
            variant=variant,
        )
        self.fast_check_error, passed = start_up_check(self, fast, self.decode_dtype)
        if passed and fast.use_graphs:  # capture only a layer that is going to serve
            self.graph_capture_seconds = fast.capture_all()
        return fast, passed

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def t3_cond(self, voice: str, exaggeration: float) -> Any:
        from chatterbox.models.t3.modules.cond_enc import T3Cond

        cached = self._conds[voice].t3
        if float(cached.emotion_adv.reshape(-1)[0]) == exaggeration:
            return cached
        # A new object, never a mutation: the cached voice stays as prepared.
        return T3Cond(
            speaker_emb=cached.speaker_emb,
            cond_prompt_speech_tokens=cached.cond_prompt_speech_tokens,
            emotion_adv=exaggeration * torch.ones(1, 1, 1),
        ).to(device=self.device)

    def text_tokens(self, text: str) -> torch.Tensor:
        """punc_norm, tokenize, duplicate for CFG, wrap in start/stop text tokens (as generate())."""
        import torch.nn.functional as F
        from chatterbox.tts import punc_norm

        hp = self.model.t3.hp
        tokens = self.model.tokenizer.text_to_tokens(punc_norm(text)).to(self.device)
        tokens = torch.cat([tokens, tokens], dim=0)
        tokens = F.pad(tokens, (1, 0), value=hp.start_text_token)
        return F.pad(tokens, (0, 1), value=hp.stop_text_token)

    def synthesize(
        self, params: SynthesisParams, max_new_tokens: int | None = None, *, ignore_stop_token: bool = False
    ) -> EngineOutput:
        """ignore_stop_token (benchmarks only) decodes every request to its cap: random weights stop at random."""
        if params.voice not in self._conds:
            raise KeyError(params.voice)
        model = self.model
        cap = max_new_tokens if max_new_tokens is not None else self.token_cap.for_text(params.text)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        stages: dict[str, float] = {}
        t3 = model.t3
        stop_token = -1 if ignore_stop_token else t3.hp.stop_speech_token
        with torch.inference_mode():
            started = time.perf_counter()
            t3_cond = self.t3_cond(params.voice, params.exaggeration)
            tokens = self.text_tokens(params.text)
            speech = self.decoder.decode(t3, t3_cond, tokens, Sampling.for_request(params), cap, stop_token=stop_token)
            generated = int(speech.shape[-1])
            # With the stop token ignored (benchmarks), a sampled start/stop id must not truncate
            # the sequence either, so that S3Gen's work is fixed too: only drop the special ids.
            speech = speech[0] if ignore_stop_token else speech_between_markers(speech[0])
            speech = speech[speech < SPEECH_VOCAB_LIMIT].to(self.device)
            self._sync()
            stages["t3"] = time.perf_counter() - started
            if speech.numel() == 0:
                raise InvalidAudioError("the model produced no speech tokens")
            started = time.perf_counter()
            wav, _ = model.s3gen.inference(speech_tokens=speech, ref_dict=self._conds[params.voice].gen)
            wav_np = wav.squeeze(0).detach().cpu().numpy()
            stages["s3gen"] = time.perf_counter() - started
        started = time.perf_counter()
        watermarked = apply_watermark(model.watermarker, wav_np, model.sr)
        stages["watermark"] = time.perf_counter() - started
        if generated >= cap:
            log.warning("speech token cap reached", extra={"cap": cap, "chars": len(params.text)})
        return EngineOutput(
            wav=np.asarray(watermarked, dtype=np.float32),
            speech_tokens=generated,
            token_cap=cap,
            stage_seconds=stages,
        )

    def describe(self) -> dict[str, object]:
        facts: dict[str, object] = {
            "engine": self.name,
            "device": self.device.split(":")[0],
            "decode_path": self.decode_path,
        }
        fast = self.fast
        if fast is not None:
            facts["decode_layer"] = fast.variant
            if fast.kernels_unavailable is not None:
                facts["decode_kernels_unavailable"] = fast.kernels_unavailable
        if self.fast_setup_error is not None:
            facts["fast_path_error"] = self.fast_setup_error
        if self.s3gen_setup_error is not None:
            facts["s3gen_graphs_error"] = self.s3gen_setup_error
        if self.patch_decision is not None:
            facts["blackwell_patches"] = self.patch_decision.enabled
        if self.memory_cap is not None:
            facts["gpu_memory_cap_bytes"] = self.memory_cap.cap_bytes
        return facts
