"""shim-bench-decode: T3 decode paths compared in one run on one device: reference (0.1.7's loop)
then fast (graph-captured), the same sentences, seeds and token budgets (--fixed-tokens makes every
sentence decode exactly its cap, since random weights stop at random). Reports T3 tokens/s, end-to-
end p50/p95, RTF, stage times, GPU memory peak per phase and the fast path's start-up cost, plus a
torch.profiler table of one fast synthesis. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..bench_stats import summary
from ..engines.base import SynthesisParams, TokenCap
from ..engines.chatterbox import ChatterboxEngine
from ..gpu_memory import driver_facts
from ..voices import load_allowlist
from .bench import default_sentences


def _phase(engine: ChatterboxEngine, sentences: list[str], runs: int, voice: str) -> dict[str, Any]:
    cuda = engine.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rows = []
    for run in range(runs):
        for index, text in enumerate(sentences):
            params = SynthesisParams(text, voice, 0.5, 0.5, 0.8, seed=1000 * run + index)
            started = time.perf_counter()
            out = engine.synthesize(params)
            wall = time.perf_counter() - started
            audio = len(out.wav) / engine.sample_rate
            rows.append(
                {
                    "sentence": index,
                    "run": run,
                    "wall_s": wall,
                    "audio_s": audio,
                    "rtf": wall / audio,
                    "tokens": out.speech_tokens,
                    "t3_s": out.stage_seconds["t3"],
                    "t3_tokens_per_s": (out.speech_tokens or 0) / out.stage_seconds["t3"],
                    **{f"{k}_s": v for k, v in out.stage_seconds.items() if k != "t3"},
                }
            )
    result: dict[str, Any] = {
        "latency_s": summary([r["wall_s"] for r in rows]),
        "rtf": summary([r["rtf"] for r in rows]),
        "t3_tokens_per_s": summary([r["t3_tokens_per_s"] for r in rows]),
        "t3_s": summary([r["t3_s"] for r in rows]),
        "s3gen_s": summary([r["s3gen_s"] for r in rows]),
        "watermark_s": summary([r["watermark_s"] for r in rows]),
        "samples": rows,
    }
    if cuda:
        result["peak_allocated_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
        result["peak_reserved_gb"] = round(torch.cuda.max_memory_reserved() / 1e9, 3)
    return result


def _greedy_agreement(engine: ChatterboxEngine, sentences: list[str], voice: str, budget: int) -> list[dict[str, Any]]:
    """Greedy tokens of the fast path (in its dtype) against 0.1.7's loop in fp32, per sentence."""
    rows = []
    for index, text in enumerate(sentences):
        reference = engine.reference_tokens(text, voice, budget, greedy=True).tokens[0].tolist()
        fast = engine.fast_tokens(text, voice, budget, greedy=True).tokens[0].tolist()
        prefix = next(
            (i for i, (a, b) in enumerate(zip(reference, fast, strict=False)) if a != b), min(len(reference), len(fast))
        )
        rows.append(
            {
                "sentence": index,
                "identical": reference == fast,
                "common_prefix": prefix,
                "reference_tokens": len(reference),
                "fast_tokens": len(fast),
            }
        )
    return rows


def _profile(engine: ChatterboxEngine, text: str, voice: str) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if engine.device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        engine.synthesize(SynthesisParams(text, voice, 0.5, 0.5, 0.8, seed=7))
    sort = "cuda_time_total" if engine.device.startswith("cuda") else "cpu_time_total"
    table = []
    key = sort.replace("cuda", "device")
    for event in sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)[:25]:
        table.append(
            {
                "op": event.key,
                "calls": event.count,
                "cpu_total_ms": event.cpu_time_total / 1000,
                "device_total_ms": getattr(event, "device_time_total", 0) / 1000,
            }
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shim-bench-decode", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--voices", type=Path, required=True)
    parser.add_argument("--voice", default="samantha_evolving")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-speech-tokens", type=int, default=1000)
    parser.add_argument("--fixed-tokens", action="store_true")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of one fast synthesis")
    parser.add_argument("--skip-reference", action="store_true", help="fast phase only (a dtype variant)")
    parser.add_argument("--agreement-budget", type=int, default=0, help="greedy token agreement over N tokens")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from ..logs import configure_logging

    configure_logging("WARNING")
    sentences = default_sentences()[: args.limit]
    voices = load_allowlist(args.voices)
    engine = ChatterboxEngine(
        args.weights,
        voices,
        device=args.device,
        token_cap=TokenCap(ceiling=args.max_speech_tokens),
        decode_path="reference",
        decode_dtype=args.dtype,
    )
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    engine.ignore_stop_token = args.fixed_tokens
    engine.synthesize(SynthesisParams("Warm up.", args.voice, 0.5, 0.5, 0.8, seed=1))
    reference = None if args.skip_reference else _phase(engine, sentences, args.runs, args.voice)
    engine.decode_path_requested = "fast"
    started = time.perf_counter()
    engine._set_up_decoder()
    setup_s = time.perf_counter() - started
    if engine.decode_path != "fast":
        print(f"fast path refused at start-up: error {engine.fast_check_error}", file=sys.stderr)
        return 1
    engine.synthesize(SynthesisParams("Warm up.", args.voice, 0.5, 0.5, 0.8, seed=1))
    fast = _phase(engine, sentences, args.runs, args.voice)
    report: dict[str, Any] = {
        "tool": "shim-bench-decode",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": engine.device,
        "gpu": (torch.cuda.get_device_name() if engine.device.startswith("cuda") else None),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        **driver_facts(),
        "dtype": args.dtype,
        "fixed_tokens": args.fixed_tokens,
        "runs": args.runs,
        "sentences": len(sentences),
        "model_load_s": load_s,
        "fast_setup_s": setup_s,
        "graph_capture_s": engine.graph_capture_seconds,
        "startup_check_max_relative_error": engine.fast_check_error,
        "graphs": len(engine.fast.graphs) if engine.fast else 0,
        "static_kv_cache_gb": round(
            (engine.fast.cache_k.numel() + engine.fast.cache_v.numel()) * engine.fast.cache_k.element_size() / 1e9, 3
        )
        if engine.fast
        else None,
        "reference": reference,
        "fast": fast,
        "speedup": {
            "end_to_end_p50": reference["latency_s"]["p50"] / fast["latency_s"]["p50"],
            "t3_tokens_per_s_p50": fast["t3_tokens_per_s"]["p50"] / reference["t3_tokens_per_s"]["p50"],
        }
        if reference
        else None,
    }
    if args.agreement_budget:
        engine.ignore_stop_token = False
        report["greedy_agreement"] = _greedy_agreement(engine, sentences, args.voice, args.agreement_budget)
    if args.profile:
        report["profile_fast"] = _profile(engine, sentences[0], args.voice)
    where = report.get("gpu") or engine.device
    print(f"{where}, torch {torch.__version__}, {args.dtype}, {len(sentences)} x {args.runs}")
    print(f"{'path':10} {'p50 s':>8} {'p95 s':>8} {'RTF p50':>8} {'T3 tok/s':>9} {'S3Gen p50':>10} {'peak GB':>8}")
    for name in ("reference", "fast"):
        phase = report[name]
        if phase is None:
            continue
        print(
            f"{name:10} {phase['latency_s']['p50']:8.3f} {phase['latency_s']['p95']:8.3f} "
            f"{phase['rtf']['p50']:8.3f} {phase['t3_tokens_per_s']['p50']:9.1f} "
            f"{phase['s3gen_s']['p50']:10.3f} {phase.get('peak_allocated_gb', 0):8.3f}"
        )
    if report.get("greedy_agreement"):
        same = sum(r["identical"] for r in report["greedy_agreement"])
        print(f"greedy tokens identical to the fp32 reference: {same}/{len(report['greedy_agreement'])} sentences")
    if report["speedup"] is None:
        return _write(args, report)
    print(
        f"speed-up: end to end {report['speedup']['end_to_end_p50']:.2f}x, "
        f"T3 {report['speedup']['t3_tokens_per_s_p50']:.2f}x; "
        f"fast start-up {setup_s:.2f} s (graphs {engine.graph_capture_seconds:.2f} s)"
    )
    return _write(args, report)


def _write(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
