"""shim-bench: latency and real-time factor of an engine, in process and over HTTP, in one run.

Local mode: the service is built exactly as in production (settings, engine, worker, FastAPI app
under uvicorn on 127.0.0.1), then each sentence is synthesized in process (through the worker, no
HTTP) and over HTTP, alternately, so both columns see the same machine state.
Remote mode (--url): the same sentences against a running endpoint (Titan's shim, Panda), HTTP only.
Prints a table and writes JSON; --save-audio keeps the first run's answers as WAVs for `identity`.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import secrets
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit.exchange import ExchangeError, post_tts, read_token, write_wav
from chatterbox_panda_kit.stats import summary
from chatterbox_shim.gpu_memory import PER_PROCESS, DriverMemorySampler, driver_facts
from chatterbox_shim.sentences import default_sentences
from chatterbox_shim.settings import HeadLimits, Settings


@dataclass
class Sample:
    mode: str
    sentence: int
    run: int
    wall_s: float
    engine_s: float | None
    audio_s: float
    speech_tokens: int | None

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s


def _gpu_facts() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"torch": None}
    facts: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        facts.update(
            gpu=torch.cuda.get_device_name(),
            capability=".".join(map(str, torch.cuda.get_device_capability())),
            cuda=torch.version.cuda,
            max_memory_allocated_gb=round(torch.cuda.max_memory_allocated() / 1e9, 3),
            max_memory_reserved_gb=round(torch.cuda.max_memory_reserved() / 1e9, 3),
            device_used_gb=round((total - free) / 1e9, 3),
        )
    return facts


def _serve(app: Any, limits: HeadLimits) -> tuple[Any, int, threading.Thread]:
    import uvicorn

    from chatterbox_shim.http_server import uvicorn_options

    options = uvicorn_options(limits)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, port, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shim-bench", description=__doc__)
    parser.add_argument("--engine", choices=("chatterbox", "lab"), default="chatterbox")
    parser.add_argument("--weights", type=Path, help="weights folder (chatterbox engine)")
    parser.add_argument("--manifest", type=Path, help="weights manifest (default: pinned production)")
    parser.add_argument("--voices", type=Path, help="voices folder with metadata.json")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=3, help="passes over the sentences")
    parser.add_argument("--max-speech-tokens", type=int, default=1000, help="token ceiling (cap per text below it)")
    parser.add_argument("--sentences", type=Path, help="one sentence per line (default: the 10 kept in the repo)")
    parser.add_argument("--limit", type=int, help="use only the first N sentences")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--fixed-tokens",
        action="store_true",
        help="ignore the stop token so every sentence decodes exactly its cap (random weights stop at random)",
    )
    parser.add_argument("--url", help="bench this running endpoint over HTTP instead of building the service")
    parser.add_argument("--token-file", type=Path, help="token for --url (default: CHATTERBOX_TOKEN)")
    parser.add_argument("--voice", help="voice name to ask for (default: the service's default)")
    parser.add_argument("--save-audio", type=Path, help="write the first run's HTTP answers here as WAVs")
    parser.add_argument("--audio-prefix", default="bench", help="file name prefix for --save-audio")
    args = parser.parse_args(argv)
    sentences = (
        [s.strip() for s in args.sentences.read_text().splitlines() if s.strip()]
        if args.sentences
        else default_sentences()
    )[: args.limit]
    if args.save_audio:
        args.save_audio.mkdir(parents=True, exist_ok=True)
    if args.url:
        return bench_remote(args, sentences)
    return bench_local(args, sentences)


def _save(args: argparse.Namespace, run: int, index: int, pcm: bytes) -> None:
    if args.save_audio and run == 0:
        write_wav(args.save_audio / f"{args.audio_prefix}_{index:02d}.wav", pcm)


def bench_remote(args: argparse.Namespace, sentences: list[str]) -> int:
    try:
        token = read_token(args.token_file)
    except ExchangeError as error:
        print(f"shim-bench: {error}", file=sys.stderr)
        return 2
    samples: list[Sample] = []
    for run in range(args.runs):
        for index, text in enumerate(sentences):
            payload: dict[str, Any] = {"text": text, "seed": 1000 * run + index}
            if args.voice:
                payload["voice"] = args.voice
            try:
                answer = post_tts(args.url, token, payload, timeout=600)
            except ExchangeError as error:
                print(f"shim-bench: {error}", file=sys.stderr)
                return 1
            if answer.status != 200:
                print(f"shim-bench: HTTP {answer.status}: {answer.body[:200]!r}", file=sys.stderr)
                return 1
            audio_s = len(answer.body) / c.SAMPLE_WIDTH_BYTES / c.SAMPLE_RATE
            samples.append(Sample("http", index, run, answer.latency_s, None, audio_s, None))
            _save(args, run, index, answer.body)
    report = build_report(args, None, None, samples, None, sentences)
    return _finish(args, report)


def _finish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def bench_local(args: argparse.Namespace, sentences: list[str]) -> int:
    from chatterbox_shim.logs import configure_logging
    from chatterbox_shim.service import build_service

    configure_logging("WARNING")
    token = secrets.token_urlsafe(24)
    settings = Settings(
        engine=args.engine,
        weights_dir=args.weights,
        weights_manifest=args.manifest,
        voices_dir=args.voices,
        default_voice=args.voice or c.DEFAULT_VOICE,
        device=args.device,
        max_speech_tokens=args.max_speech_tokens,
        queue_depth=4,
        token=token,
    )
    from pydantic import SecretStr

    # Runs for the whole benchmark, model load included (a daemon thread: an early return leaves it).
    sampler = DriverMemorySampler().start()
    started = time.perf_counter()
    service = build_service(settings, SecretStr(token))
    if args.fixed_tokens:
        # A bench option, not engine state: every request of this bench's own service decodes to its cap.
        service.engine.synthesize = functools.partial(  # type: ignore[method-assign]
            service.engine.synthesize, ignore_stop_token=True
        )
    from chatterbox_shim.http_app import create_app

    server, port, thread = _serve(create_app(service), settings.head_limits())
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=600) as client:
        while client.get(url + c.READY_PATH).status_code != 200:
            if service.failure:
                print(f"shim-bench: start-up failed: {service.failure}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        ready_s = time.perf_counter() - started
        samples: list[Sample] = []
        for run in range(args.runs):
            for index, text in enumerate(sentences):
                seed = 1000 * run + index
                params = service.params(text, settings.default_voice, seed=seed)
                t0 = time.perf_counter()
                result = service.submit(params).future.result()
                samples.append(
                    Sample(
                        "in_process",
                        index,
                        run,
                        time.perf_counter() - t0,
                        result.synth_seconds,
                        result.pcm.seconds,
                        result.output.speech_tokens,
                    )
                )
                t0 = time.perf_counter()
                response = client.post(
                    url + c.TTS_PATH, json={"text": text, "seed": seed}, headers={c.TOKEN_HEADER: token}
                )
                wall = time.perf_counter() - t0
                if response.status_code != 200:
                    print(f"shim-bench: HTTP {response.status_code}: {response.text[:200]}", file=sys.stderr)
                    return 1
                samples.append(
                    Sample("http", index, run, wall, None, float(response.headers[c.HEADER_AUDIO_DURATION]), None)
                )
                _save(args, run, index, response.content)
    server.should_exit = True
    thread.join(10)
    sampler.stop()
    report = build_report(args, settings, service, samples, ready_s, sentences, sampler.report())
    return _finish(args, report)


def build_report(
    args: argparse.Namespace,
    settings: Settings | None,
    service: Any,
    samples: list[Sample],
    ready_s: float | None,
    sentences: list[str],
    driver_memory: dict[str, Any] | None = None,
) -> dict[str, Any]:
    modes: dict[str, Any] = {}
    for mode in ("in_process", "http"):
        chosen = [s for s in samples if s.mode == mode]
        if not chosen:
            continue
        modes[mode] = {
            "latency_s": summary([s.wall_s for s in chosen]),
            "rtf": summary([s.rtf for s in chosen]),
            "audio_s": summary([s.audio_s for s in chosen]),
        }
    gpu = _gpu_facts() | driver_facts() | (driver_memory or {})
    primary = modes.get("http") or modes["in_process"]
    report: dict[str, Any] = {
        "tool": "shim-bench",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target": args.url or "local",
        "runs": args.runs,
        "sentences": len(sentences),
        "modes": modes,
        # The research note's headline fields, from the HTTP column (what the phone daemon sees).
        "parity": {
            "synthesis_p50_ms": 1000 * primary["latency_s"]["p50"],
            "synthesis_p95_ms": 1000 * primary["latency_s"]["p95"],
            "rtf_p50": primary["rtf"]["p50"],
            "vram_peak_torch_gb": gpu.get("max_memory_allocated_gb"),
            "vram_peak_nvidia_smi_gb": gpu.get("driver_peak_gb") if gpu.get("driver_source") == PER_PROCESS else None,
            "unified_memory_gap_mib": _gap_mib(gpu),
        },
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "versions": _versions(),
        "gpu": gpu,
        "samples": [asdict(s) | {"rtf": s.rtf} for s in samples],
    }
    if service is not None and settings is not None:
        report.update(_local_facts(args, settings, service, samples, ready_s, modes))
    return report


def _gap_mib(gpu: dict[str, Any]) -> float | None:
    if gpu.get("driver_peak_gb") is None or gpu.get("max_memory_reserved_gb") is None:
        return None
    return round((gpu["driver_peak_gb"] - gpu["max_memory_reserved_gb"]) * 1e9 / 2**20, 1)


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for package in ("torch", "chatterbox-tts", "chatterbox-shim"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    try:
        import torch

        found["cuda"] = torch.version.cuda
    except ImportError:
        found["cuda"] = None
    return found


def _local_facts(
    args: argparse.Namespace,
    settings: Settings,
    service: Any,
    samples: list[Sample],
    ready_s: float | None,
    modes: dict[str, Any],
) -> dict[str, Any]:
    from chatterbox_shim.weights import Manifest

    engine_s = [s.engine_s for s in samples if s.engine_s is not None]
    http_p50 = modes["http"]["latency_s"]["p50"]
    inproc_p50 = modes["in_process"]["latency_s"]["p50"]
    # Same sentence, run and seed in both modes, so each pair did the same work: compare pairwise.
    pairs = list(zip(samples[0::2], samples[1::2], strict=True))
    paired_ms = [1000 * (h.wall_s - i.wall_s) for i, h in pairs]
    tokens = [s.speech_tokens for s in samples if s.speech_tokens]
    token_rate = [s.speech_tokens / s.engine_s for s in samples if s.speech_tokens and s.engine_s]
    engine = service.engine
    manifest = Manifest.load(settings.weights_manifest) if settings.engine == "chatterbox" else None
    return {
        "engine": engine.name,
        "device": getattr(engine, "device", "none"),
        "speech_token_ceiling": settings.max_speech_tokens,
        "tokens_per_sentence": sorted({s.speech_tokens for s in samples if s.speech_tokens is not None}),
        "model_load_s": engine.load_seconds,
        "time_to_ready_s": ready_s,
        "engine_s": summary(engine_s),
        "http_overhead": {
            "p50_ratio": http_p50 / inproc_p50,
            "p50_delta_ms": 1000 * (http_p50 - inproc_p50),
            "paired_delta_ms": summary(paired_ms),
        },
        "speech_tokens": summary([float(t) for t in tokens]),
        "speech_tokens_per_s_end_to_end": summary(token_rate),
        "fixed_tokens": bool(args.fixed_tokens),
        "weights_manifest": {"name": manifest.name, "digest": manifest.digest()} if manifest else None,
    }


def print_table(report: dict[str, Any]) -> None:
    if "engine" in report:
        where = f"engine {report['engine']} on {report['device']}"
        print(f"{where}, {report['sentences']} sentences x {report['runs']} runs")
        print(f"model load {report['model_load_s'] or 0:.2f} s, time to /ready {report['time_to_ready_s']:.2f} s")
    else:
        print(f"endpoint {report['target']}, {report['sentences']} sentences x {report['runs']} runs")
    print(f"{'mode':12} {'p50 s':>8} {'p95 s':>8} {'RTF p50':>8} {'RTF p95':>8}")
    for mode, data in report["modes"].items():
        lat, rtf = data["latency_s"], data["rtf"]
        print(f"{mode:12} {lat['p50']:8.3f} {lat['p95']:8.3f} {rtf['p50']:8.3f} {rtf['p95']:8.3f}")
    gpu = report["gpu"]
    if gpu.get("driver_source"):
        print(
            f"GPU memory peak: torch {gpu.get('max_memory_allocated_gb')} GB allocated, "
            f"driver {gpu['driver_peak_gb']} GB ({gpu['driver_source']})"
        )
    if "http_overhead" not in report:
        return
    overhead = report["http_overhead"]
    paired = overhead["paired_delta_ms"]
    print(
        f"HTTP overhead: p50 ratio {overhead['p50_ratio']:.4f} ({overhead['p50_delta_ms']:+.1f} ms); "
        f"paired per request: p50 {paired['p50']:+.1f} ms, p95 {paired['p95']:+.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
