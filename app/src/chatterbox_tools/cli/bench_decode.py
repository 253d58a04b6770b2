"""shim-bench-decode: T3 decode paths compared in one run on one device: reference (0.1.7's loop),
a second fast variant (`compared`, --compare: the fused torch layer unless told) and the fast path as
served (`fast`: the prebuilt decode kernels where they load),
the same sentences, seeds and token budgets (--fixed-tokens makes every sentence decode exactly its
cap, since random weights stop at random). Reports T3 ms per token against the GPU's bandwidth floor
(weights plus the KV cache a step must read, over a device-to-device copy rate measured in the same
run), kernels per decode step (profiler, one eager step of each layer variant), the step time of a
graph replay per variant, S3Gen seconds per second of audio (eager against graph-replayed, with
their waveform difference), end-to-end p50/p95 and RTF with the spread over runs, GPU memory peak
per phase and the start-up stages. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from chatterbox_panda_kit.stats import summary
from chatterbox_shim.engines import equivalence, s3gen_graphs
from chatterbox_shim.engines.base import SynthesisParams, TokenCap
from chatterbox_shim.engines.chatterbox import SPEECH_VOCAB_LIMIT, ChatterboxEngine
from chatterbox_shim.engines.fast_t3 import DEFAULT_VARIANT, VARIANTS, FastT3Decoder
from chatterbox_shim.engines.sampling import Sampling
from chatterbox_shim.gpu_memory import driver_facts
from chatterbox_shim.sentences import default_sentences
from chatterbox_shim.voices import load_allowlist


def _phase(engine: ChatterboxEngine, sentences: list[str], runs: int, voice: str, fixed_tokens: bool) -> dict[str, Any]:
    cuda = engine.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rows: list[dict[str, Any]] = []
    for run in range(runs):
        for index, text in enumerate(sentences):
            params = SynthesisParams(text, voice, seed=1000 * run + index)
            started = time.perf_counter()
            out = engine.synthesize(params, ignore_stop_token=fixed_tokens)
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
        "t3_ms_per_token": summary([1000 * r["t3_s"] / r["tokens"] for r in rows if r["tokens"]]),
        "s3gen_s_per_audio_s": summary([r["s3gen_s"] / r["audio_s"] for r in rows]),
        "per_run_p50": {
            key: [summary([r[key] for r in rows if r["run"] == run])["p50"] for run in range(runs)]
            for key in ("wall_s", "rtf", "t3_s", "s3gen_s")
        },
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
        assert engine.fast is not None
        reference = equivalence.reference_tokens(engine, text, voice, budget, greedy=True).tokens[0].tolist()
        fast = equivalence.fast_tokens(engine, engine.fast, text, voice, budget, greedy=True).tokens[0].tolist()
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
        engine.synthesize(SynthesisParams(text, voice, seed=7))
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


def copy_bandwidth(device: str, gigabytes: float = 2.0, repeats: int = 20) -> float:
    """Device-to-device copy rate in bytes/s, counting bytes read plus bytes written (median)."""
    n = int(gigabytes * 1e9 / 4)
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    times = []
    for _ in range(repeats + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    del src, dst
    return 2 * n * 4 / sorted(times[3:])[len(times[3:]) // 2]


def kv_bytes_per_position(decoder: FastT3Decoder) -> int:
    """KV-cache bytes one step reads per attended position (keys and values, every layer, CFG pair)."""
    layers, _, pair, heads, _, dim = decoder.cache_kv.shape
    return layers * 2 * pair * heads * dim * decoder.cache_kv.element_size()


def count_step_kernels(decoder: FastT3Decoder, span: int) -> int:
    """GPU kernels (and memsets/copies) launched by one eager decode step (a graph replays the same)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    saved = [t.clone() for t in (decoder.step, decoder.logits, decoder.seen, decoder.done)]
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CUDA]) as prof:
        decoder._decode_step(span, False, False)
        torch.cuda.synchronize()
    for tensor, value in zip((decoder.step, decoder.logits, decoder.seen, decoder.done), saved, strict=True):
        tensor.copy_(value)
    return sum(1 for e in prof.events() if e.device_type == DeviceType.CUDA)


def step_times(engine: ChatterboxEngine, text: str, voice: str, copy_bw: float, replays: int = 200) -> dict[str, Any]:
    """Per layer variant: kernels per step, and the median time of one graph replay at each span bucket."""
    from chatterbox_panda_kit.contract import CFG_WEIGHT_DEFAULT, EXAGGERATION_DEFAULT
    from chatterbox_shim.engines.fast_t3 import prompt_embeds

    t3 = engine.model.t3
    with torch.inference_mode():
        cond = engine.t3_cond(voice, EXAGGERATION_DEFAULT)
        embeds = prompt_embeds(t3, cond, engine.text_tokens(text), CFG_WEIGHT_DEFAULT)
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        decoder = FastT3Decoder(
            t3,
            max_prompt_tokens=engine.fast_max_prompt_tokens,
            max_new_tokens=engine.token_cap.ceiling,
            dtype=engine.fast.dtype if engine.fast else torch.float32,
            variant=variant,
        )
        with torch.inference_mode():
            decoder._reset(Sampling(), t3.hp.start_speech_token, t3.hp.stop_speech_token, None)
            decoder.prefill(embeds)
        row: dict[str, Any] = {"kernels_per_step": count_step_kernels(decoder, decoder.buckets[0]), "spans": {}}
        weight_bytes = decoder.w.nbytes()
        for span in decoder.buckets:
            graph = decoder._graph(span, False, False)
            for _ in range(3):
                graph.replay()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(replays):
                graph.replay()
            end.record()
            end.synchronize()
            ms = start.elapsed_time(end) / replays
            moved = weight_bytes + kv_bytes_per_position(decoder) * span
            row["spans"][str(span)] = {
                "ms_per_step": ms,
                "bytes_per_step": moved,
                "floor_ms": 1000 * moved / copy_bw,
                "fraction_of_floor": (1000 * moved / copy_bw) / ms,
            }
        results[variant] = row
        del decoder
        torch.cuda.empty_cache()
    return results


def s3gen_compare(engine: ChatterboxEngine, lengths: list[int], voice: str) -> dict[str, Any]:
    """S3Gen alone from the same tokens and seed: eager, then with the estimator's bucket graphs at
    the bucket's first use (eager call + capture) and once captured (replay only)."""
    model = engine.model
    ref = engine._conds[voice].gen
    served = model.s3gen.flow.decoder.estimator
    s3gen_graphs.uninstall(model.s3gen)
    wrapper = s3gen_graphs.install(model.s3gen)  # a new one: each bucket's first use is measured
    assert wrapper is not None
    rows = []
    for index, length in enumerate(lengths):
        generator = torch.Generator().manual_seed(index)
        tokens = torch.randint(0, SPEECH_VOCAB_LIMIT, (length,), generator=generator).to(engine.device)
        row: dict[str, Any] = {"tokens": length}
        wavs = {}
        for mode in ("eager", "graphs_first_use", "graphs"):
            wrapper.enabled = mode != "eager"
            torch.manual_seed(index)
            torch.cuda.synchronize()
            started = time.perf_counter()
            wav, _ = model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
            torch.cuda.synchronize()
            row[f"{mode}_s"] = time.perf_counter() - started
            wavs[mode] = wav
        row["audio_s"] = wavs["eager"].shape[-1] / engine.sample_rate
        row["max_abs_diff"] = float((wavs["graphs"] - wavs["eager"]).abs().max())
        row["first_use_max_abs_diff"] = float((wavs["graphs_first_use"] - wavs["eager"]).abs().max())
        rows.append(row)
    model.s3gen.flow.decoder.estimator = served
    return {
        "eager_s": summary([r["eager_s"] for r in rows]),
        "graphs_first_use_s": summary([r["graphs_first_use_s"] for r in rows]),
        "graphs_s": summary([r["graphs_s"] for r in rows]),
        "eager_s_per_audio_s": summary([r["eager_s"] / r["audio_s"] for r in rows]),
        "graphs_s_per_audio_s": summary([r["graphs_s"] / r["audio_s"] for r in rows]),
        "max_abs_diff": max(max(r["max_abs_diff"], r["first_use_max_abs_diff"]) for r in rows),
        "buckets": len(wrapper.graphs),
        "samples": rows,
    }


def hash_times(weights: Path) -> dict[str, float]:
    """The start-up sha256 check, one file after another and concurrently (the service's way)."""
    from chatterbox_shim.weights import MANIFEST_FILE_NAME, Manifest, check_weights

    manifest = Manifest.load(weights / MANIFEST_FILE_NAME)
    started = time.perf_counter()
    check_weights(weights, manifest, progress=lambda *_: None)  # a callback keeps it sequential
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    problems = check_weights(weights, manifest)
    concurrent = time.perf_counter() - started
    return {"sequential_s": sequential, "concurrent_s": concurrent, "problems": float(len(problems))}


def _fast_phase(
    engine: ChatterboxEngine, args: argparse.Namespace, sentences: list[str], variant: str, *, s3gen: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One fast-path variant set up as the service would (start-up check, graphs), then timed."""
    engine.s3gen_graphs_requested = s3gen
    started = time.perf_counter()
    engine.set_up_decoder(variant)
    decoder_s = time.perf_counter() - started
    if engine.decode_path != "fast":
        raise SystemExit(f"fast path ({variant}) refused at start-up: error {engine.fast_check_error}")
    s3gen_graphs.uninstall(engine.model.s3gen)
    engine.s3gen_graphs = None
    started = time.perf_counter()
    engine.set_up_s3gen()
    setup = {
        "decoder_setup_s": decoder_s,
        "s3gen_setup_s": time.perf_counter() - started,
        "graph_capture_s": engine.graph_capture_seconds,
        "startup_check_max_relative_error": engine.fast_check_error,
        "s3gen_graphs": engine.s3gen_graphs is not None,
        "s3gen_check_max_abs_error": engine.s3gen_check_error,
        "graphs": len(engine.fast.graphs) if engine.fast else 0,
        "variant": engine.fast.variant if engine.fast else None,
        "kernels_unavailable": engine.fast.kernels_unavailable if engine.fast else None,
    }
    engine.synthesize(SynthesisParams("Warm up.", args.voice, seed=1), ignore_stop_token=args.fixed_tokens)
    return _phase(engine, sentences, args.runs, args.voice, args.fixed_tokens), setup


def _bandwidth(engine: ChatterboxEngine, fast: dict[str, Any], compared: dict[str, Any] | None) -> dict[str, Any]:
    """The bandwidth floor of this GPU for the run's mean position, and the fraction each path reached."""
    assert engine.fast is not None
    bw = copy_bandwidth(engine.device)
    tokens = [r["tokens"] for r in fast["samples"] if r["run"] == 0]
    prompt = engine.fast.prompt_len.item()
    mean_position = prompt + sum(tokens) / (2 * len(tokens))
    moved = engine.fast.w.nbytes() + kv_bytes_per_position(engine.fast) * mean_position
    floor_ms = 1000 * moved / bw
    return {
        "copy_bytes_per_s": bw,
        "bytes_per_token_at_mean_position": moved,
        "mean_position": mean_position,
        "floor_ms_per_token": floor_ms,
        "fast_ms_per_token_p50": fast["t3_ms_per_token"]["p50"],
        "fraction_of_floor": floor_ms / fast["t3_ms_per_token"]["p50"],
        "compared_fraction_of_floor": floor_ms / compared["t3_ms_per_token"]["p50"] if compared else None,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shim-bench-decode", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--voices", type=Path, required=True)
    parser.add_argument("--voice", default="samantha_evolving")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", type=int, default=3, help="runs of the fast phases (the spread)")
    parser.add_argument("--reference-runs", type=int, default=1)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-speech-tokens", type=int, default=1000)
    parser.add_argument("--fixed-tokens", action="store_true")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of one fast synthesis")
    parser.add_argument("--skip-reference", action="store_true", help="no reference phase")
    parser.add_argument(
        "--compare",
        default="fused",
        choices=(*VARIANTS, "none"),
        help="a second fast variant timed before the served one",
    )
    parser.add_argument("--details", action="store_true", help="step times per variant, S3Gen eager/graphs, hashing")
    parser.add_argument("--agreement-budget", type=int, default=0, help="greedy token agreement over N tokens")
    parser.add_argument("--json", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from chatterbox_shim.logs import configure_logging

    configure_logging("WARNING")
    cuda = args.device.startswith("cuda")
    sentences = default_sentences()[: args.limit]
    voices = load_allowlist(args.voices)
    hashing = hash_times(args.weights) if args.details else None
    engine = ChatterboxEngine(
        args.weights,
        voices,
        device=args.device,
        token_cap=TokenCap(ceiling=args.max_speech_tokens),
        decode_path="reference",
        decode_dtype=args.dtype,
        s3gen_graphs=False,
    )
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    load_stages = dict(engine.load_stage_seconds)
    warm = SynthesisParams("Warm up.", args.voice, seed=1)
    engine.synthesize(warm, ignore_stop_token=args.fixed_tokens)
    reference = (
        None if args.skip_reference else _phase(engine, sentences, args.reference_runs, args.voice, args.fixed_tokens)
    )

    compared, setup_compared = (None, None)
    if args.compare != "none":
        compared, setup_compared = _fast_phase(engine, args, sentences, args.compare, s3gen=True)
    fast, setup = _fast_phase(engine, args, sentences, DEFAULT_VARIANT, s3gen=True)
    assert engine.fast is not None
    report: dict[str, Any] = {
        "tool": "shim-bench-decode",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": engine.device,
        "gpu": (torch.cuda.get_device_name() if cuda else None),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        **driver_facts(),
        "dtype": args.dtype,
        "fixed_tokens": args.fixed_tokens,
        "runs": args.runs,
        "reference_runs": args.reference_runs,
        "sentences": len(sentences),
        "model_load_s": load_s,
        "load_stages_s": load_stages,
        "weights_hashing": hashing,
        "fast_setup": setup,
        "compared_setup": setup_compared,
        "static_kv_cache_gb": round(engine.fast.cache_kv.numel() * engine.fast.cache_kv.element_size() / 1e9, 3),
        "t3_weight_bytes_per_step": engine.fast.w.nbytes(),
        "kv_bytes_per_position": kv_bytes_per_position(engine.fast),
        "reference": reference,
        "compared": compared,
        "fast": fast,
        "speedup": {
            "end_to_end_p50": reference["latency_s"]["p50"] / fast["latency_s"]["p50"],
            "t3_tokens_per_s_p50": fast["t3_tokens_per_s"]["p50"] / reference["t3_tokens_per_s"]["p50"],
        }
        if reference
        else None,
    }
    if cuda:
        report["bandwidth"] = _bandwidth(engine, fast, compared)
    _write(args, report)  # the phases are kept even if a detail below fails
    if args.details and cuda:
        report["step_variants"] = step_times(engine, sentences[0], args.voice, report["bandwidth"]["copy_bytes_per_s"])
        lengths = [engine.token_cap.for_text(text) for text in sentences]
        report["s3gen_compare"] = s3gen_compare(engine, lengths, args.voice)
    if args.agreement_budget:
        report["greedy_agreement"] = _greedy_agreement(engine, sentences, args.voice, args.agreement_budget)
    if args.profile:
        report["profile_fast"] = _profile(engine, sentences[0], args.voice)
    _print(report, args)
    return _write(args, report)


def _print(report: dict[str, Any], args: argparse.Namespace) -> None:
    where = report.get("gpu") or report["device"]
    facts = f"driver {report.get('driver')}, torch {report['torch']}, {args.dtype}"
    print(f"{where}, {facts}, {report['sentences']} sentences")
    print(
        f"{'path':10} {'runs':>4} {'p50 s':>7} {'p95 s':>7} {'RTF p50':>8} {'T3 ms/tok':>9} "
        f"{'S3Gen p50':>9} {'S3Gen s/s':>9} {'peak GB':>8}  per-run p50 s"
    )
    for name in ("reference", "compared", "fast"):
        phase = report[name]
        if phase is None:
            continue
        runs = " ".join(f"{v:.3f}" for v in phase["per_run_p50"]["wall_s"])
        print(
            f"{name:10} {len(phase['per_run_p50']['wall_s']):4d} {phase['latency_s']['p50']:7.3f} "
            f"{phase['latency_s']['p95']:7.3f} {phase['rtf']['p50']:8.3f} {phase['t3_ms_per_token']['p50']:9.3f} "
            f"{phase['s3gen_s']['p50']:9.3f} {phase['s3gen_s_per_audio_s']['p50']:9.4f} "
            f"{phase.get('peak_allocated_gb', 0):8.3f}  {runs}"
        )
    if "bandwidth" in report:
        b = report["bandwidth"]
        print(
            f"copy {b['copy_bytes_per_s'] / 1e12:.2f} TB/s; {b['bytes_per_token_at_mean_position'] / 1e9:.3f} GB/token "
            f"-> floor {b['floor_ms_per_token']:.3f} ms/token; fast reaches {100 * b['fraction_of_floor']:.1f}%"
        )
    for variant, row in (report.get("step_variants") or {}).items():
        spans = ", ".join(f"{span}: {v['ms_per_step']:.3f} ms" for span, v in row["spans"].items())
        print(f"step {variant:16} {row['kernels_per_step']:5d} kernels; {spans}")
    if report.get("s3gen_compare"):
        c = report["s3gen_compare"]
        print(
            f"S3Gen alone p50: eager {c['eager_s']['p50']:.3f} s, bucket graphs {c['graphs_s']['p50']:.3f} s "
            f"({c['graphs_first_use_s']['p50']:.3f} s at a bucket's first use, {c['buckets']} buckets); "
            f"max |diff| {c['max_abs_diff']:.2e}"
        )
    if report.get("weights_hashing"):
        h = report["weights_hashing"]
        print(f"sha256 of the weights: sequential {h['sequential_s']:.2f} s, concurrent {h['concurrent_s']:.2f} s")
    print("load stages:", {k: round(v, 2) for k, v in report["load_stages_s"].items()})
    if report.get("greedy_agreement"):
        same = sum(r["identical"] for r in report["greedy_agreement"])
        print(f"greedy tokens identical to the fp32 reference: {same}/{len(report['greedy_agreement'])} sentences")
    if report["speedup"]:
        print(
            f"speed-up vs reference: end to end {report['speedup']['end_to_end_p50']:.2f}x, "
            f"T3 {report['speedup']['t3_tokens_per_s_p50']:.2f}x"
        )


def _write(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
