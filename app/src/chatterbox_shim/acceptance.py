"""First contact with Titan: what only the real machine can prove, checked inside the deployed image.

`ansible/acceptance.yml` runs `chatterbox-shim-acceptance` once after the first build, in the
running shim's container (its settings, weights and voices): the weights against their manifest,
start-up stage by stage, the Blackwell patches (no complex abs reaches the GPU's NVRTC), the fast
decode path against the reference loop (the same greedy and seeded tokens), S3Gen's graphs,
synthesis that is not silent and its real-time factor, and the GPU memory the model holds. Each check
passes, fails, or is `unproven` where this machine cannot show it (no GPU, the lab engine); the
report says which, and the command exits 1 when any check failed.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .audio import rms_dbfs
from .engines.base import Engine, SynthesisParams
from .gpu_memory import driver_facts, nvidia_smi_process_mib
from .pins import pins
from .service import build_engine
from .settings import Settings
from .voices import load_allowlist

PASSED, FAILED, UNPROVEN = "passed", "failed", "unproven"
# The same budgets as the GPU equivalence tests: long enough to cross every captured graph.
TOKEN_BUDGET = 120
SEED_BASE = 1234


@dataclass
class Check:
    name: str
    outcome: str
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    versions: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, outcome: str, detail: str, **figures: Any) -> None:
        self.checks.append(Check(name, outcome, detail, figures))

    def names(self, outcome: str) -> list[str]:
        return [c.name for c in self.checks if c.outcome == outcome]

    def time_to_ready_s(self) -> float | None:
        """Weights check + load + the first synthesis (the service's warm-up), in this process."""
        figures = {c.name: c.figures for c in self.checks}
        start, synthesis = figures.get("start_up", {}), figures.get("synthesis", {})
        if "load_s" not in start or "first_s" not in synthesis:
            return None
        return round(start["verify_weights_s"] + start["load_s"] + synthesis["first_s"], 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": self.versions,
            "time_to_ready_s": self.time_to_ready_s(),
            "checks": [asdict(c) for c in self.checks],
            "failed": self.names(FAILED),
            "unproven": self.names(UNPROVEN),
        }


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def versions() -> dict[str, Any]:
    torch = _torch()
    facts: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), **driver_facts()}
    facts["pinned_torch"], facts["pinned_cuda"] = pins()["torch"], pins()["cuda"]["version"]
    if torch is not None:
        facts["torch"], facts["torch_cuda"] = torch.__version__, torch.version.cuda
        if torch.cuda.is_available():
            facts["device"] = torch.cuda.get_device_name(0)
            facts["capability"] = "sm_{}{}".format(*torch.cuda.get_device_capability(0))
    return facts


def _gpu(report: Report, require_gpu: bool) -> bool:
    torch = _torch()
    has_gpu = torch is not None and bool(torch.cuda.is_available())
    if has_gpu:
        report.add("gpu", PASSED, f"{report.versions.get('device')} ({report.versions.get('capability')})")
    elif require_gpu:
        report.add("gpu", FAILED, "no CUDA device is visible in the container (--gpus / the NVIDIA runtime?)")
    else:
        report.add("gpu", UNPROVEN, "no CUDA device here: every GPU check below is unproven")
    cuda = report.versions.get("torch_cuda")
    if cuda is None:
        report.add("torch_cuda", UNPROVEN, "no CUDA build of torch here")
    elif cuda == report.versions["pinned_cuda"]:
        report.add("torch_cuda", PASSED, f"torch {report.versions['torch']} built for CUDA {cuda}")
    else:
        outcome = FAILED if require_gpu else UNPROVEN
        report.add("torch_cuda", outcome, f"torch built for CUDA {cuda}, pinned {report.versions['pinned_cuda']}")
    return has_gpu


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def _start(report: Report, settings: Settings) -> Engine | None:
    try:
        engine, verify_s = _timed(lambda: build_engine(settings))
        _, load_s = _timed(engine.load)
    except Exception as exc:  # every start-up failure is the check's finding
        report.add("start_up", FAILED, f"{type(exc).__name__}: {exc}")
        return None
    facts = engine.describe()
    stages = {k: round(v, 2) for k, v in getattr(engine, "load_stage_seconds", {}).items()}
    # A fast path served without the prebuilt decode kernels is a fallback too (about 2.5x slower
    # per token on an H200): named here, so Titan's acceptance run says why.
    fallbacks = ("fast_path_error", "s3gen_graphs_error", "decode_kernels_unavailable")
    errors = [f"{k}: {facts[k]}" for k in fallbacks if k in facts]
    detail = f"verify {verify_s:.1f} s, load {load_s:.1f} s" + (f"; fell back: {'; '.join(errors)}" if errors else "")
    figures = {"verify_weights_s": round(verify_s, 2), "load_s": round(load_s, 2), "stages_s": stages, **facts}
    report.add("start_up", FAILED if errors else PASSED, detail, **figures)
    return engine


def _synthesis(report: Report, engine: Engine, settings: Settings, sentences: list[str]) -> None:
    rtfs: list[float] = []
    first_s = 0.0
    for index, text in enumerate(sentences):
        params = SynthesisParams(text, settings.default_voice, seed=SEED_BASE + index)
        started = time.perf_counter()
        output = engine.synthesize(params)
        seconds = time.perf_counter() - started
        first_s = first_s or seconds
        wav = np.asarray(output.wav, dtype=np.float64)
        audio_s = wav.size / 24_000
        level = rms_dbfs(float(np.sqrt(np.mean(wav**2)))) if wav.size else -math.inf
        if not wav.size or not np.isfinite(wav).all() or level < settings.rms_floor_dbfs:
            report.add("synthesis", FAILED, f"sentence {index}: silent or invalid audio ({level:.1f} dBFS)")
            return
        rtfs.append(seconds / audio_s)
    median = statistics.median(rtfs)
    detail = f"{len(rtfs)} sentences, RTF p50 {median:.3f}, first {first_s:.2f} s"
    report.add("synthesis", PASSED, detail, rtf_p50=round(median, 4), first_s=round(first_s, 3))


def _blackwell(report: Report, engine: Any, settings: Settings) -> None:
    """Where NVRTC cannot build for this GPU (SM_121 with CUDA 12.8) the patches must be on and no
    complex abs may reach the GPU; where it can, the unpatched op must simply run there."""
    from . import blackwell

    assert settings.voices_dir is not None
    voice = load_allowlist(settings.voices_dir)[settings.default_voice]
    decision = engine.patch_decision
    enabled = bool(decision and decision.enabled)
    detail = f"patches {'on' if enabled else 'off'} ({decision.reason if decision else '?'})"
    try:
        with blackwell.record_complex_abs() as recorder:
            engine.model.prepare_conditionals(str(voice.path), exaggeration=0.5)
    except Exception as exc:  # the NVRTC failure the patches exist for
        report.add("blackwell_patches", FAILED, f"{detail}; preparing a voice failed: {type(exc).__name__}: {exc}")
        return
    on_gpu = len([c for c in recorder.calls if c.device.startswith("cuda")])
    if enabled and on_gpu:
        report.add("blackwell_patches", FAILED, f"{detail}; {on_gpu} complex abs calls still reached the GPU")
    else:
        where = "none on the GPU" if not on_gpu else f"{on_gpu} ran on the GPU, which NVRTC supports"
        report.add("blackwell_patches", PASSED, f"{detail}; complex abs: {where}", complex_abs_on_gpu=on_gpu)


def _fast_path(report: Report, engine: Any, sentences: list[str]) -> None:
    import torch

    from .engines import equivalence

    if engine.decode_path != "fast":
        report.add("fast_path", FAILED, f"serving the reference loop: {engine.fast_setup_error or 'not chosen'}")
        return
    voice = sorted(engine.voices)[0]
    differing: list[str] = []
    for index, text in enumerate(sentences):
        for greedy in (True, False):
            torch.manual_seed(SEED_BASE + index)
            reference = equivalence.reference_tokens(engine, text, voice, TOKEN_BUDGET, greedy=greedy)
            torch.manual_seed(SEED_BASE + index)
            fast = equivalence.fast_tokens(engine, engine.fast, text, voice, TOKEN_BUDGET, greedy=greedy)
            if fast.tokens[0].tolist() != reference.tokens[0].tolist():
                differing.append(f"sentence {index} {'greedy' if greedy else 'seeded'}")
    figures = {"start_up_max_relative_error": engine.fast_check_error, "s3gen_max_abs_error": engine.s3gen_check_error}
    if differing:
        report.add("fast_path", FAILED, "tokens differ from the reference loop: " + ", ".join(differing), **figures)
    else:
        detail = f"{len(sentences)} sentences, greedy and seeded tokens identical (layer: {engine.fast.variant})"
        report.add("fast_path", PASSED, detail, **figures)


def _memory(report: Report) -> None:
    import torch

    reserved, allocated = torch.cuda.max_memory_reserved(), torch.cuda.max_memory_allocated()
    process = nvidia_smi_process_mib(os.getpid())
    report.add(
        "gpu_memory",
        PASSED,
        f"peak reserved {reserved / 2**30:.2f} GiB, allocated {allocated / 2**30:.2f} GiB",
        peak_reserved_bytes=reserved,
        peak_allocated_bytes=allocated,
        driver_process_mib=process,
    )


def _guarded(report: Report, name: str, check: Callable[[], None]) -> None:
    """A check that raises (OOM, an NVRTC error on SM_121) is that check failing, named, not a crash."""
    try:
        check()
    except Exception as exc:  # the finding itself
        report.add(name, FAILED, f"{type(exc).__name__}: {exc}")


def run(settings: Settings, sentences: list[str], *, require_gpu: bool) -> Report:
    report = Report(versions())
    has_gpu = _gpu(report, require_gpu)
    engine = _start(report, settings)
    if engine is None:
        return report
    _guarded(report, "synthesis", lambda: _synthesis(report, engine, settings, sentences))
    gpu_checks = ("blackwell_patches", "fast_path", "gpu_memory")
    if settings.engine != "chatterbox":
        for name in gpu_checks:
            report.add(name, UNPROVEN, f"the {settings.engine} engine has no model: shown only by the real image")
        return report
    if not has_gpu:
        for name in gpu_checks:
            report.add(name, UNPROVEN, "no CUDA device here")
        return report
    _guarded(report, "blackwell_patches", lambda: _blackwell(report, engine, settings))
    _guarded(report, "fast_path", lambda: _fast_path(report, engine, sentences))
    _guarded(report, "gpu_memory", lambda: _memory(report))
    return report
