"""shim-loadtest: load and soak figures for docs/RELIABILITY.md (a benchmark, not a test).

Starts the shim itself on 127.0.0.1 (so it can watch the process's memory), drives N concurrent
callers for a while, checks every answer as the phone daemon would, and reports throughput,
accepted latency, the 503 share, event-loop lag, resident memory over time and, with a GPU, the
driver's memory; --solo asks the accepted requests again one at a time and compares the audio.

  shim-loadtest --clients 64 --seconds 60 --env SHIM_LAB_RTF=0.05 --json load.json
  shim-loadtest --clients 5 --seconds 600 --warmup 60 --env SHIM_LAB_RTF=0.05 --json soak.json
  shim-loadtest --engine chatterbox --weights B --voices V --clients 16 --seconds 120 --solo
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from chatterbox_panda_kit import contract as c
from chatterbox_shim.gpu_memory import DriverMemorySampler, driver_facts
from chatterbox_shim.sentences import default_sentences
from chatterbox_tools.loadgen import Ask, run_load, solo_check, summarize


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pid, self.interval = pid, interval
        self.series: list[tuple[float, float]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            mib = _rss_mib(self.pid)
            if mib is not None:
                self.series.append((time.monotonic(), mib))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


def _growth(series: list[tuple[float, float]], start: float, warmup: float) -> dict[str, Any]:
    """Memory after warm-up: first and last value, growth, and the least-squares slope per minute."""
    after = [(t - start, mib) for t, mib in series if t - start >= warmup]
    if len(after) < 2:
        return {"samples": len(after)}
    n = len(after)
    mean_t = sum(t for t, _ in after) / n
    mean_m = sum(m for _, m in after) / n
    var = sum((t - mean_t) ** 2 for t, _ in after)
    slope = sum((t - mean_t) * (m - mean_m) for t, m in after) / var if var else 0.0
    step = max(1, n // 120)
    return {
        "samples": n,
        "series_s_mib": [[round(t, 1), round(m, 1)] for t, m in after[::step]],
        "after_warmup_mib": round(after[0][1], 1),
        "end_mib": round(after[-1][1], 1),
        "peak_mib": round(max(m for _, m in after), 1),
        "growth_mib": round(after[-1][1] - after[0][1], 1),
        "slope_mib_per_min": round(slope * 60, 3),
    }


def _histogram(text: str, name: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            values[le] = float(line.rsplit(" ", 1)[1])
        elif line.startswith((name + "_sum ", name + "_count ")):
            key, value = line.split(" ")
            values[key.rsplit("_", 1)[1]] = float(value)
    return values


def loop_lag(before: str, after: str) -> dict[str, Any]:
    """Event-loop lag during the run, from the service's own histogram (difference of two scrapes)."""
    name = "tts_event_loop_lag_seconds"
    a, b = _histogram(before, name), _histogram(after, name)
    delta = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in b}
    count = delta.get("count", 0.0)
    if not count:
        return {"samples": 0}
    buckets = sorted((float(k), v) for k, v in delta.items() if k not in ("sum", "count") and k != "+Inf")

    def bound(q: float) -> float | str:
        for le, cumulative in buckets:
            if cumulative >= q * count:
                return le
        return "+Inf"

    over_10ms = count - dict(buckets).get(0.01, count)
    return {
        "samples": int(count),
        "mean_ms": round(1000 * delta["sum"] / count, 3),
        "p99_at_most_s": bound(0.99),
        "max_at_most_s": bound(1.0),
        "share_over_10ms": round(over_10ms / count, 5),
    }


def _machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **driver_facts(),
    }


def start_service(args: argparse.Namespace, token: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIM_", "CHATTERBOX_"))}
    env.update(
        CHATTERBOX_TOKEN=token,
        SHIM_HOST="127.0.0.1",
        SHIM_PORT=str(port),
        SHIM_ENGINE=args.engine,
        SHIM_QUEUE_DEPTH=str(args.queue_depth),
        SHIM_LOG_LEVEL="WARNING",
    )
    if args.weights:
        env["SHIM_WEIGHTS_DIR"] = str(args.weights)
        env["SHIM_WEIGHTS_MANIFEST"] = str(args.weights / "weights-manifest.json")
    if args.voices:
        env["SHIM_VOICES_DIR"] = str(args.voices)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url + c.READY_PATH, timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready within {timeout:.0f} s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shim-loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("lab", "chatterbox"), default="lab")
    parser.add_argument("--weights", type=Path, help="weights folder with weights-manifest.json (chatterbox)")
    parser.add_argument("--voices", type=Path, help="voices folder with metadata.json")
    parser.add_argument("--env", action="append", default=[], metavar="SHIM_X=V", help="extra service setting")
    parser.add_argument("--queue-depth", type=int, default=4)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds excluded from the memory growth")
    parser.add_argument("--busy-pause", type=float, default=0.05, help="seconds a caller waits after a 503")
    parser.add_argument("--seeded", action="store_true", help="a distinct seed per request (needed by --solo)")
    parser.add_argument("--solo", type=int, default=0, metavar="N", help="re-ask N accepted requests one at a time")
    parser.add_argument("--voice", help="voice to ask for (default: the service's default)")
    parser.add_argument("--sample-interval", type=float, default=1.0)
    parser.add_argument("--ready-timeout", type=float, default=900.0)
    parser.add_argument("--label", default="load")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--log", type=Path, default=Path("shim-loadtest.log"), help="the service's log")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    texts = default_sentences()
    asks = [
        Ask(texts[i % len(texts)], (1000 + i) if args.seeded else None, args.voice)
        for i in range(len(texts) * (97 if args.seeded else 1))
    ]
    token = secrets.token_urlsafe(24)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_service(args, token, port, args.log)
    try:
        ready_s = wait_ready(url, process, args.ready_timeout)
        rss = RssSampler(process.pid, args.sample_interval)
        gpu = DriverMemorySampler(args.sample_interval, pid=process.pid)
        before = httpx.get(url + c.METRICS_PATH).text
        started = time.monotonic()
        rss.start()
        if args.engine == "chatterbox":
            gpu.start()
        run = asyncio.run(
            run_load(
                url,
                token,
                asks,
                clients=args.clients,
                seconds=args.seconds,
                busy_pause=args.busy_pause,
                keep_pcm=args.solo,
            )
        )
        rss.stop()
        if args.engine == "chatterbox":
            gpu.stop()
        after = httpx.get(url + c.METRICS_PATH).text
        report: dict[str, Any] = {
            "label": args.label,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": _machine(),
            "setup": {
                "engine": args.engine,
                "clients": args.clients,
                "seconds": args.seconds,
                "queue_depth": args.queue_depth,
                "env": args.env,
                "busy_pause_s": args.busy_pause,
                "ready_s": round(ready_s, 2),
            },
            "result": summarize(run),
            "event_loop_lag": loop_lag(before, after),
            "rss": _growth(rss.series, started, args.warmup),
            "gpu_memory": {"source": gpu.source, **_growth(gpu.series, started, args.warmup)} if gpu.series else None,
            "service_alive": process.poll() is None,
        }
        if args.solo:
            report["solo"] = asyncio.run(solo_check(url, token, run))
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    result = report["result"]
    clean = result["invalid"] == 0 and report["service_alive"] and set(result["statuses"]) <= {"200", "503"}
    if "solo" in report:
        clean = clean and report["solo"]["n_different"] == 0
    return 0 if clean else 1


def print_table(report: dict[str, Any]) -> None:
    r, setup, lag, rss = report["result"], report["setup"], report["event_loop_lag"], report["rss"]
    rows = [
        ("machine", f"{report['machine']['cpu']} x{report['machine']['cpus']} {report['machine'].get('gpu', '')}"),
        ("load", f"{setup['clients']} clients, {setup['seconds']:.0f} s, {setup['engine']} {' '.join(setup['env'])}"),
        ("requests", f"{r['requests']} {r['statuses']}"),
        ("accepted/s", f"{r['accepted_per_s']} ({r['audio_s_per_s']} s of audio per s)"),
        ("accepted p50/p99", f"{r['accepted_p50_s']} / {r['accepted_p99_s']} s (max {r['accepted_max_s']})"),
        ("503 share", f"{r['busy_503_share']:.1%}"),
        ("invalid", f"{r['invalid']} {r['invalid_by_kind'] or ''}"),
        (
            "event-loop lag",
            f"mean {lag.get('mean_ms')} ms, p99 <= {lag.get('p99_at_most_s')} s, max <= {lag.get('max_at_most_s')} s",
        ),
        ("RSS", f"{rss.get('after_warmup_mib')} -> {rss.get('end_mib')} MiB ({rss.get('slope_mib_per_min')} MiB/min)"),
    ]
    if report.get("gpu_memory"):
        g = report["gpu_memory"]
        rows.append(("GPU memory", f"{g.get('after_warmup_mib')} -> {g.get('end_mib')} MiB, peak {g.get('peak_mib')}"))
    if "solo" in report:
        s = report["solo"]
        rows.append(("solo re-ask", f"{s['identical']}/{s['checked']} identical"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
