#!/usr/bin/env python3
"""Failover and rollback wall times on the local lab, repeated: a table and a JSON file.

Each cycle: Panda's TTS stops, failover.yml runs (timed), Panda's TTS comes back, rollback.yml runs
(timed). Per-step times come from the audit line each run appends on Panda. The lab must be up
with the standby ready (make demo KEEP_LAB=1, or scripts/lab.sh up + standby.yml); it is left as
it was found.

  .venv/bin/python scripts/bench_failover.py --cycles 5 --json out/failover-bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PANDA, PANDA_TTS = "chatterbox-lab-panda", "chatterbox-lab-panda-tts"


def playbook(name: str) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    started = time.perf_counter()
    result = subprocess.run(
        ["ansible-playbook", "-i", "inventory/lab", f"ansible/{name}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-3000:]}")
    return seconds


def last_audit() -> dict:
    text = subprocess.run(
        ["docker", "exec", PANDA, "tail", "-n", "1", "/var/lib/chatterbox-failover/audit.log"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(text)


def wait_answering(url: str) -> None:
    """The lab's Panda stand-in has /health only (it shares no code with the shim, so no /ready)."""
    for _ in range(120):
        if subprocess.run(["curl", "-fs", f"{url}/health"], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    sys.exit(f"{url} never became ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    runs: dict[str, list[dict]] = {"failover": [], "rollback": []}
    for _ in range(args.cycles):
        subprocess.run(["docker", "stop", "-t", "2", PANDA_TTS], check=True, capture_output=True)
        wall = playbook("failover.yml")
        runs["failover"].append({"wall_s": wall, **last_audit()})
        subprocess.run(["docker", "start", PANDA_TTS], check=True, capture_output=True)
        wait_answering("http://127.0.0.1:8772")
        wall = playbook("rollback.yml")
        runs["rollback"].append({"wall_s": wall, **last_audit()})

    report: dict = {"cycles": args.cycles, "machine": platform.platform(), "cpus": os.cpu_count(), "playbooks": {}}
    print(f"{'playbook':10} {'step':14} {'median s':>9} {'max s':>7}")
    for name, entries in runs.items():
        steps = {"wall (ansible-playbook)": [e["wall_s"] for e in entries]}
        for entry in entries:
            for step, at in entry["step_seconds"].items():
                steps.setdefault(f"{step} (at)", []).append(at)
            steps.setdefault("lock-to-audit", []).append(entry["total_seconds"])
        report["playbooks"][name] = {}
        for step, values in steps.items():
            median, worst = statistics.median(values), max(values)
            report["playbooks"][name][step] = {"median_s": round(median, 2), "max_s": round(worst, 2)}
            print(f"{name:10} {step:14} {median:9.2f} {worst:7.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report | {"runs": runs}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
