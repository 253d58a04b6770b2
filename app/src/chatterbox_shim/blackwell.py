"""Blackwell (SM_121) patches for chatterbox-tts 0.1.7 under torch 2.11 cu128.

torch's jiterator compiles a few ops (complex abs among them) at first use with NVRTC for the
device's own architecture. cu128 wheels ship NVRTC 12.8, which rejects sm_121, so the two
complex-abs sites on the voice-cloning path fail on a DGX Spark. The patches take both off the
jiterator path; neither touches the decode loop.

1. S3Tokenizer.log_mel_spectrogram: |X|^2 as real^2 + imag^2 of a real view of the STFT.
   (A real view rather than return_complex=False: that flag is deprecated and warns per call;
   the arithmetic is identical.)
2. xvector.extract_feature: Kaldi fbank (rfft(...).abs()) on the CPU, features moved back.
"""

from __future__ import annotations

import contextvars
import ctypes
import glob
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

log = logging.getLogger(__name__)

Policy = Literal["auto", "on", "off"]

_PATCHED_MARK = "_shim_blackwell_patch"
_originals: dict[str, Callable[..., Any]] = {}
_in_cpu_fallback: contextvars.ContextVar[bool] = contextvars.ContextVar("in_cpu_fallback", default=False)


@dataclass(frozen=True)
class PatchDecision:
    enabled: bool
    reason: str


def _log_mel_spectrogram_real(self: Any, audio: Any, padding: int = 0) -> torch.Tensor:
    from chatterbox.models.s3tokenizer.s3tokenizer import S3_HOP

    if not torch.is_tensor(audio):
        audio = torch.from_numpy(audio)
    audio = audio.to(self.device)
    if padding > 0:
        audio = F.pad(audio, (0, padding))
    stft = torch.view_as_real(
        torch.stft(audio, self.n_fft, S3_HOP, window=self.window.to(self.device), return_complex=True)
    )
    frames = stft[..., :-1, :]
    magnitudes = frames[..., 0] ** 2 + frames[..., 1] ** 2
    mel_spec = self._mel_filters.to(self.device) @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def _extract_feature_cpu(audio: Any) -> tuple[torch.Tensor, list[int], list[int]]:
    original = _originals["extract_feature"]
    if torch.is_tensor(audio):
        device = audio.device
        cpu_audio: Any = audio.detach().cpu()
    else:
        device = audio[0].device
        cpu_audio = [au.detach().cpu() for au in audio]
    token = _in_cpu_fallback.set(True)
    try:
        features, lengths, times = original(cpu_audio)
    finally:
        _in_cpu_fallback.reset(token)
    return features.to(device), lengths, times


def patches_applied() -> bool:
    from chatterbox.models.s3gen import xvector
    from chatterbox.models.s3tokenizer.s3tokenizer import S3Tokenizer

    return hasattr(S3Tokenizer.log_mel_spectrogram, _PATCHED_MARK) and hasattr(xvector.extract_feature, _PATCHED_MARK)


def apply_patches() -> None:
    """Install both patches; calling it again changes nothing."""
    from chatterbox.models.s3gen import xvector
    from chatterbox.models.s3tokenizer.s3tokenizer import S3Tokenizer

    if not hasattr(S3Tokenizer.log_mel_spectrogram, _PATCHED_MARK):
        _originals["log_mel_spectrogram"] = S3Tokenizer.log_mel_spectrogram
        setattr(_log_mel_spectrogram_real, _PATCHED_MARK, True)
        S3Tokenizer.log_mel_spectrogram = _log_mel_spectrogram_real
    if not hasattr(xvector.extract_feature, _PATCHED_MARK):
        _originals["extract_feature"] = xvector.extract_feature
        setattr(_extract_feature_cpu, _PATCHED_MARK, True)
        xvector.extract_feature = _extract_feature_cpu


def remove_patches() -> None:
    """Restore the package's own functions (tests compare both paths in one process)."""
    from chatterbox.models.s3gen import xvector
    from chatterbox.models.s3tokenizer.s3tokenizer import S3Tokenizer

    if "log_mel_spectrogram" in _originals:
        S3Tokenizer.log_mel_spectrogram = _originals.pop("log_mel_spectrogram")
    if "extract_feature" in _originals:
        xvector.extract_feature = _originals.pop("extract_feature")


def _nvrtc_candidates() -> Iterator[str]:
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    site = os.path.dirname(os.path.dirname(torch.__file__))
    patterns = (
        os.path.join(torch_lib, "libnvrtc*.so*"),
        os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*"),
        os.path.join(site, "nvidia", "cu*", "lib", "libnvrtc.so*"),
    )
    for pattern in patterns:
        yield from sorted(p for p in glob.glob(pattern) if "builtins" not in p and "alt" not in p)
    yield "libnvrtc.so"


def nvrtc_supported_archs() -> list[int] | None:
    """Architectures (e.g. 90, 120) the NVRTC next to torch can compile for; None if not found."""
    for candidate in _nvrtc_candidates():
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        count = ctypes.c_int()
        if lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)) != 0:
            continue
        archs = (ctypes.c_int * count.value)()
        if lib.nvrtcGetSupportedArchs(archs) != 0:
            continue
        return sorted(archs)
    return None


def decide(policy: Policy, device: str) -> PatchDecision:
    if policy == "on":
        return PatchDecision(True, "forced on by setting")
    if policy == "off":
        return PatchDecision(False, "forced off by setting")
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return PatchDecision(False, "no CUDA device: jiterator is not used")
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    arch = major * 10 + minor
    supported = nvrtc_supported_archs()
    if supported is None:
        return PatchDecision(True, f"sm_{arch}: NVRTC library not found, patching to be safe")
    if arch in supported:
        return PatchDecision(False, f"sm_{arch} is in NVRTC's supported architectures")
    return PatchDecision(True, f"sm_{arch} is missing from NVRTC's architectures (up to sm_{max(supported)})")


def apply_policy(policy: Policy, device: str) -> PatchDecision:
    decision = decide(policy, device)
    if decision.enabled:
        apply_patches()
    log.info("blackwell patches", extra={"enabled": decision.enabled, "reason": decision.reason})
    return decision


@dataclass
class ComplexAbsCall:
    device: str
    in_cpu_fallback: bool


class ComplexAbsRecorder(TorchDispatchMode):
    """Records every abs on a complex tensor: the op that sends CUDA work through the jiterator."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[ComplexAbsCall] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func.overloadpacket is torch.ops.aten.abs and args and torch.is_tensor(args[0]) and args[0].is_complex():
            self.calls.append(ComplexAbsCall(str(args[0].device), _in_cpu_fallback.get()))
        return func(*args, **(kwargs or {}))

    @property
    def on_model_path(self) -> list[ComplexAbsCall]:
        """Calls outside the declared CPU fallback: the ones that would reach NVRTC on a GPU."""
        return [c for c in self.calls if not c.in_cpu_fallback]


@contextmanager
def record_complex_abs() -> Iterator[ComplexAbsRecorder]:
    recorder = ComplexAbsRecorder()
    with recorder:
        yield recorder
