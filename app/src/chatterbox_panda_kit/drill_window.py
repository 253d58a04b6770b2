"""drill-window: the supervised window of a failover drill, run on Panda (standard library only).

Probes the line's CURRENT URL (re-read from its env file each time, with its own token) every
interval until the window ends, the operator ends it (the stop file appears, or SIGTERM/SIGINT),
or failed probes exceed the threshold. Writes a JSON summary; exit 0 whatever the probes said
(the playbook judges), 2 on bad usage.

  python3 -m chatterbox_panda_kit.drill_window --env-file /etc/annie/phone.env --seconds 1800 \\
      --interval 30 --max-failures 3 --stop-file /var/lib/chatterbox-failover/main/drill.stop --json out.json
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from .probe import TOKEN_VARIABLE, URL_VARIABLE, ProbeResult, load_contract, probe, read_env_file
from .stats import percentile

ENDED_BY_TIME = "window elapsed"
ENDED_BY_OPERATOR = "operator"
ENDED_BY_FAILURES = "failures over the threshold"
ENDED_BY_INTERRUPT = "interrupted"


class Window:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.interrupted = False
        self.probes: list[dict[str, Any]] = []
        # The window probes Titan, which is held to the contract learned from Panda.
        self.record = load_contract(args.contract)

    def _interrupt(self, signum: int, _frame: FrameType | None) -> None:
        self.interrupted = True

    def _probe_once(self) -> dict[str, Any]:
        values = read_env_file(self.args.env_file)
        url, token = values.get(self.args.variable, ""), values.get(TOKEN_VARIABLE, "")
        result: ProbeResult = probe(url, token, timeout=self.args.timeout, record=self.record)
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "url": url,
            "ok": result.ok,
            "status": result.status,
            "failed_check": result.failed_check,
            "detail": result.detail[:200],
            "latency_s": round(result.latency_s, 3) if result.latency_s is not None else None,
            "audio_s": round(result.audio_s, 3) if result.audio_s is not None else None,
        }

    def _wait(self, seconds: float, deadline: float) -> str | None:
        until = min(time.monotonic() + seconds, deadline)
        while time.monotonic() < until:
            if self.interrupted:
                return ENDED_BY_INTERRUPT
            if self.args.stop_file and self.args.stop_file.exists():
                return ENDED_BY_OPERATOR
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))
        return None

    def run(self) -> dict[str, Any]:
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)
        started, started_at = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        deadline = started + self.args.seconds
        ended_by = ENDED_BY_TIME
        while time.monotonic() < deadline:
            self.probes.append(self._probe_once())
            if sum(not p["ok"] for p in self.probes) > self.args.max_failures:
                ended_by = ENDED_BY_FAILURES
                break
            stop = self._wait(self.args.interval, deadline)
            if stop:
                ended_by = stop
                break
        return summarize(self.probes, ended_by, started_at, time.monotonic() - started, self.args)


def _percentile(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 3) if values else None


def summarize(
    probes: list[dict[str, Any]], ended_by: str, started_at: str, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    failures = [p for p in probes if not p["ok"]]
    latencies = [p["latency_s"] for p in probes if p["ok"] and p["latency_s"] is not None]
    audio_checks = {"content-length", "framing", "samples", "duration", "plausible length", "non-silent", "contract"}
    return {
        "started": started_at,
        "planned_s": args.seconds,
        "actual_s": round(seconds, 1),
        "interval_s": args.interval,
        "max_failures": args.max_failures,
        "ended_by": ended_by,
        "probes": len(probes),
        "failures": len(failures),
        "invalid_or_silent_audio": sum(1 for p in failures if p["failed_check"] in audio_checks),
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p95_s": _percentile(latencies, 95),
        "latency_max_s": max(latencies) if latencies else None,
        "audio_s_total": round(sum(p["audio_s"] or 0.0 for p in probes if p["ok"]), 3),
        "urls": sorted({p["url"] for p in probes}),
        "failed_probes": failures[:20],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="drill-window", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-file", type=Path, required=True, help="the line's env file (URL and token)")
    parser.add_argument("--variable", default=URL_VARIABLE, help="the variable that names the TTS server")
    parser.add_argument("--seconds", type=float, required=True, help="length of the window")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between probes")
    parser.add_argument("--max-failures", type=int, default=2, help="end the window when failures exceed this")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one probe may take")
    parser.add_argument("--stop-file", type=Path, help="end the window early when this file appears")
    parser.add_argument("--json", type=Path, required=True, help="where to write the summary")
    parser.add_argument("--contract", type=Path, help="the line's contract record: every answer is held to it")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.interval <= 0 or args.max_failures < 0:
        parser.error("--seconds and --interval must be positive, --max-failures not negative")
    if not args.env_file.is_file():
        print(f"drill-window: {args.env_file} is not a file", file=sys.stderr)
        return 2
    try:
        window = Window(args)
    except ValueError as error:
        print(f"drill-window: {error}", file=sys.stderr)
        return 2
    summary = window.run()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    partial = args.json.with_suffix(".partial")
    partial.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    partial.replace(args.json)
    print(json.dumps({k: v for k, v in summary.items() if k != "failed_probes"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
