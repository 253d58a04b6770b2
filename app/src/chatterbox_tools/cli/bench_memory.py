"""shim-bench-memory: the standby's GPU footprint, for sizing SHIM_GPU_MEMORY_LIMIT beside Gemma
(a benchmark, not a test; docs/RUNBOOK.md "Sizing the GPU cap").

For each variant (a name and SHIM_* settings) it starts the real service on 127.0.0.1, waits for
/ready (or its failure), reads the process's GPU memory from nvidia-smi when idle after start-up,
its peak while answering the sentences one at a time, and idle again after them; then stops it.
A variant whose cap is too small must fail at start-up naming the cap: the report says which did.

  shim-bench-memory --weights B --voices V --variant default \\
      --variant reference=SHIM_DECODE_PATH=reference --variant capped=SHIM_GPU_MEMORY_LIMIT=6GiB \\
      --json memory.json
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chatterbox_panda_kit import contract as c
from chatterbox_shim.gpu_memory import PER_PROCESS, DriverMemorySampler, nvidia_smi_process_mib
from chatterbox_shim.sentences import default_sentences
from chatterbox_tools.cli.loadtest import _free_port, _machine, start_service

IDLE_SETTLE_SECONDS = 3.0


def _variant(text: str) -> tuple[str, list[str]]:
    name, _, settings = text.partition("=")
    return name, [s for s in settings.split(",") if s]


def _state(url: str) -> dict[str, Any]:
    try:
        answer = httpx.get(url + c.HEALTH_PATH, timeout=5)
        return dict(answer.json()) if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def _wait_ready_or_failed(url: str, process: Any, timeout: float) -> tuple[str, float, dict[str, Any]]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            return f"exited {process.returncode}", time.monotonic() - started, {}
        health = _state(url)
        if health.get("state") in ("ready", "failed"):
            return str(health["state"]), time.monotonic() - started, health
        time.sleep(0.5)
    return "timeout", timeout, {}


def measure(args: argparse.Namespace, name: str, settings: list[str], token: str) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    service_args = argparse.Namespace(
        engine="chatterbox", queue_depth=4, weights=args.weights, voices=args.voices, env=settings
    )
    with tempfile.TemporaryDirectory() as scratch:
        log_path = Path(scratch) / "service.log"
        process = start_service(service_args, token, port, log_path)
        try:
            state, ready_s, health = _wait_ready_or_failed(url, process, args.ready_timeout)
            result: dict[str, Any] = {"variant": name, "settings": settings, "state": state}
            result["time_to_state_s"] = round(ready_s, 2)
            if state != "ready":
                lines = log_path.read_text(errors="replace").splitlines()
                result["cause"] = next((line for line in reversed(lines) if "start-up failed" in line), lines[-1:])
                return result
            time.sleep(IDLE_SETTLE_SECONDS)
            result["idle_after_ready_mib"] = nvidia_smi_process_mib(process.pid)
            texts = default_sentences()[: args.sentences]
            with DriverMemorySampler(interval=0.1, pid=process.pid) as sampler:
                for i, text in enumerate(texts):
                    body = {"text": text, "seed": i + 1}
                    answer = httpx.post(url + c.TTS_PATH, json=body, headers={c.TOKEN_HEADER: token}, timeout=300)
                    answer.raise_for_status()
            time.sleep(IDLE_SETTLE_SECONDS)
            result["peak_while_serving_mib"] = sampler.peak_mib if sampler.source == PER_PROCESS else None
            result["idle_after_serving_mib"] = nvidia_smi_process_mib(process.pid)
            result["health"] = {k: health.get(k) for k in ("decode_path", "gpu_memory_cap_bytes", "fast_path_error")}
            return result
        finally:
            process.terminate()
            process.wait(30)


def print_table(report: dict[str, Any]) -> None:
    header = ("variant", "state", "to state s", "idle MiB", "peak MiB", "idle after")
    print(f"{header[0]:<14} {header[1]:<10} {header[2]:>10} {header[3]:>9} {header[4]:>9} {header[5]:>10}  decode")
    for row in report["variants"]:
        cells = [row.get(k) for k in ("idle_after_ready_mib", "peak_while_serving_mib", "idle_after_serving_mib")]
        shown = [f"{v:9.0f}" if isinstance(v, (int, float)) else f"{'-':>9}" for v in cells]
        decode = (row.get("health") or {}).get("decode_path") or row.get("cause", "")
        first = f"{row['variant']:<14} {row['state']:<10} {row['time_to_state_s']:>10.1f}"
        print(f"{first} {shown[0]} {shown[1]} {shown[2]:>10}  {decode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shim-bench-memory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path, required=True, help="weights folder with weights-manifest.json")
    parser.add_argument("--voices", type=Path, required=True, help="voices folder with metadata.json")
    parser.add_argument("--variant", action="append", type=_variant, metavar="NAME[=SHIM_X=V,...]", required=True)
    parser.add_argument("--sentences", type=int, default=5, help="sentences answered while serving")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(16)
    report = {"machine": _machine(), "variants": [measure(args, name, s, token) for name, s in args.variant]}
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
