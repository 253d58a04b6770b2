"""The canary's verdict: today's measurements against the thresholds and the last clean verdict.

Pure decision logic (`decide`) plus the folder conventions: verdicts are dated JSON files named
`<UTC stamp>-<verdict>.json`; the newest clean one is the reference for the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

CLEAN = "titan_chatterbox_synthesis_parity_with_panda"
DRIFT = "titan_chatterbox_synthesis_drift_from_panda"

# The values live in one file only (ansible/canary-thresholds.yml); every name is required.
THRESHOLD_NAMES = frozenset({"identity_mean_min", "identity_min_min", "p50_ratio_max", "rtf_p50_max", "interval_days"})


def load_thresholds(path: Path) -> dict[str, float]:
    loaded = json.loads(path.read_text(encoding="utf-8"))
    unknown = set(loaded) - THRESHOLD_NAMES
    if unknown:
        raise ValueError(f"{path}: unknown thresholds {sorted(unknown)} (known: {sorted(THRESHOLD_NAMES)})")
    missing = THRESHOLD_NAMES - set(loaded)
    if missing:
        raise ValueError(f"{path}: missing thresholds {sorted(missing)}")
    return {k: float(v) for k, v in loaded.items()}


def last_clean(folder: Path) -> dict[str, Any] | None:
    for path in sorted(folder.glob(f"*-{CLEAN}.json"), reverse=True):
        try:
            return json.loads(path.read_text(encoding="utf-8")) | {"file": path.name}
        except (OSError, json.JSONDecodeError):
            continue
    return None


def decide(
    measured: dict[str, Any],
    thresholds: dict[str, float],
    previous: dict[str, Any] | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """measured: weights_ok, weights_detail, freeze_sha256, image, driver, voice_sha256,
    bench {p50_s, p95_s, rtf_p50}, identity {mean, min, spread, n}."""
    failures: list[str] = []
    triggers: list[str] = []
    if not measured["weights_ok"]:
        failures.append(f"weights do not match the manifest: {measured.get('weights_detail', '')}".strip())
    identity, bench = measured["identity"], measured["bench"]
    if identity["mean"] < thresholds["identity_mean_min"]:
        failures.append(f"identity mean {identity['mean']:.4f} < {thresholds['identity_mean_min']}")
    if identity["min"] < thresholds["identity_min_min"]:
        failures.append(f"identity min {identity['min']:.4f} < {thresholds['identity_min_min']}")
    if bench["rtf_p50"] > thresholds["rtf_p50_max"]:
        failures.append(f"RTF p50 {bench['rtf_p50']:.3f} > {thresholds['rtf_p50_max']}")
    p50_ratio = None
    if previous is None:
        triggers.append("first run: no earlier clean verdict to compare with")
    else:
        p50_ratio = bench["p50_s"] / previous["measured"]["bench"]["p50_s"]
        if p50_ratio > thresholds["p50_ratio_max"]:
            failures.append(
                f"p50 {bench['p50_s']:.3f} s is {p50_ratio:.2f}x the last clean verdict's "
                f"{previous['measured']['bench']['p50_s']:.3f} s (max {thresholds['p50_ratio_max']}x)"
            )
        before = previous["measured"]
        for key, what in (
            ("image", "image"),
            ("freeze_sha256", "installed packages (pip freeze)"),
            ("driver", "GPU driver"),
            ("voice_sha256", "voice references"),
        ):
            if before.get(key) != measured.get(key):
                triggers.append(f"{what} changed: {before.get(key)} -> {measured.get(key)}")
        age = now - dt.datetime.fromisoformat(previous["when"].replace("Z", "+00:00"))
        if age.days >= thresholds["interval_days"]:
            triggers.append(f"quarterly: the last clean verdict is {age.days} days old")
    verdict = DRIFT if failures else CLEAN
    return {
        "verdict": verdict,
        "when": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "next_due": (now + dt.timedelta(days=thresholds["interval_days"])).strftime("%Y-%m-%d"),
        "failures": failures,
        "triggers": triggers,
        "p50_ratio_to_last_clean": p50_ratio,
        "compared_with": previous.get("file") if previous else None,
        "thresholds": thresholds,
        "measured": measured,
    }


def write_verdict(folder: Path, verdict: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = verdict["when"].replace("-", "").replace(":", "")
    path = folder / f"{stamp}-{verdict['verdict']}.json"
    path.write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    return path
