"""outage-watch: one pass of the outage watch, run by a systemd timer on Panda (standard library only).

For every phone line it reads the line's env file, probes the URL the daemon uses NOW with the
daemon's own token (the tts-probe checks), probes the standby too (the line's URL with Titan's
scheme, host and port: what a failover would write) while the line is on Panda, and:
- writes Prometheus metrics in node_exporter's textfile format (atomically: temp file + rename);
- prints one line per state change (up <-> down, or a new URL), which systemd puts in the journal;
- optionally, after N consecutive failures of a line that is on Panda's own TTS, runs the
  configured failover command once for that line (off by default; see docs/RUNBOOK.md).

  python3 -m chatterbox_panda_kit.outage_watch --config /etc/chatterbox-outage-watch/config.json

Config (JSON): {"lines": [{"name", "env_file"[, "variable"]}], "targets": {"panda": URL, "titan": URL},
"textfile": PATH, "state_dir": DIR, "timeout_s": 30,
"auto_failover": {"enabled": false, "after_failures": 3, "command": ["argv", "{line}"]}}
Exit 0 after a pass (whatever the probes said: the metrics carry it), 2 on a bad config.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .probe import TOKEN_VARIABLE, URL_VARIABLE, load_contract, probe, read_env_file

PREFIX = "chatterbox_tts_watch"


@dataclass
class LineResult:
    line: str
    url: str
    target: str
    ok: bool
    failed_check: str | None = None
    detail: str = ""
    latency_s: float | None = None
    audio_s: float | None = None
    consecutive_failures: int = 0
    events: list[str] = field(default_factory=list)
    standby: StandbyResult | None = None


@dataclass
class StandbyResult:
    """Titan, probed as this line's daemon would reach it after a failover."""

    url: str
    ok: bool
    latency_s: float | None = None


def standby_url(url: str, titan: str) -> str:
    """The line's URL with only scheme, host and port replaced (what failover writes)."""
    current, base = urlsplit(url), urlsplit(titan)
    return urlunsplit((base.scheme, base.netloc, current.path, current.query, current.fragment))


def target_name(url: str, targets: dict[str, str]) -> str:
    normalized = url.rstrip("/")
    for name, known in targets.items():
        if normalized == known.rstrip("/"):
            return name
    return "unknown"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(results: list[LineResult], now: float) -> str:
    families = (
        ("up", "gauge", "1 when the line's current TTS URL passed every tts-probe check", lambda r: float(r.ok)),
        (
            "latency_seconds",
            "gauge",
            "Seconds the probe's synthesis took (NaN when it failed)",
            lambda r: r.latency_s if r.ok and r.latency_s is not None else float("nan"),
        ),
        (
            "audio_seconds",
            "gauge",
            "Seconds of audio in the probe's answer (0 when it failed)",
            lambda r: r.audio_s if r.ok and r.audio_s is not None else 0.0,
        ),
        (
            "consecutive_failures",
            "gauge",
            "Failed probes in a row for the line",
            lambda r: float(r.consecutive_failures),
        ),
        ("last_run_timestamp_seconds", "gauge", "When the watch last probed the line", lambda r: now),
    )
    lines: list[str] = []
    for name, kind, text, value in families:
        lines += [f"# HELP {PREFIX}_{name} {text}", f"# TYPE {PREFIX}_{name} {kind}"]
        for r in results:
            labels = f'line="{_label(r.line)}",target="{_label(r.target)}",url="{_label(r.url)}"'
            lines.append(f"{PREFIX}_{name}{{{labels}}} {value(r)}")
    standby_families = (
        (
            "standby_up",
            "1 when Titan, at the URL a failover would write, passed every tts-probe check",
            lambda sb: float(sb.ok),
        ),
        (
            "standby_latency_seconds",
            "Seconds the standby probe's synthesis took (NaN when it failed)",
            lambda sb: sb.latency_s if sb.ok and sb.latency_s is not None else float("nan"),
        ),
    )
    for name, text, standby_value in standby_families:
        lines += [f"# HELP {PREFIX}_{name} {text}", f"# TYPE {PREFIX}_{name} gauge"]
        for r in results:
            if r.standby is not None:
                labels = f'line="{_label(r.line)}",url="{_label(r.standby.url)}"'
                lines.append(f"{PREFIX}_{name}{{{labels}}} {standby_value(r.standby)}")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _contract(config: dict[str, Any], line: str, target: str) -> tuple[dict[str, Any] | None, str]:
    """The line's recorded contract, if standby stored one: Titan is held to it, Panda (the truth
    it was learned from) only compared with it, so a changed Panda is never reported down."""
    folder = config.get("contract_dir")
    path = Path(folder) / f"{line}.json" if folder else None
    if path is None or not path.is_file():
        return None, "strict"
    try:
        return load_contract(path), "warn" if target == "panda" else "strict"
    except ValueError:
        return None, "strict"


def watch_line(line: dict[str, str], config: dict[str, Any], state_dir: Path) -> LineResult:
    name = line["name"]
    state_path = state_dir / f"{name}.json"
    previous = _load_state(state_path)
    try:
        values = read_env_file(Path(line["env_file"]))
        url, token = values.get(line.get("variable") or URL_VARIABLE, ""), values.get(TOKEN_VARIABLE, "")
    except OSError as exc:
        url, token = "", ""
        unreadable = f"env file {line['env_file']} unreadable: {exc.strerror}"
    else:
        unreadable = ""
    target = target_name(url, config.get("targets", {}))
    result = LineResult(name, url, target, ok=False)
    if unreadable:
        result.failed_check, result.detail = "env-file", unreadable
    else:
        record, mode = _contract(config, name, target)
        outcome = probe(url, token, timeout=float(config.get("timeout_s", 30)), record=record, contract_mode=mode)
        result.ok, result.failed_check, result.detail = outcome.ok, outcome.failed_check, outcome.detail
        result.latency_s, result.audio_s = outcome.latency_s, outcome.audio_s
    titan = str(config.get("targets", {}).get("titan", ""))
    if target == "titan":
        result.standby = StandbyResult(url, result.ok, result.latency_s)
    elif titan and url and token:
        record, _ = _contract(config, name, "titan")
        spare = standby_url(url, titan)
        checked = probe(spare, token, timeout=float(config.get("timeout_s", 30)), record=record, contract_mode="strict")
        result.standby = StandbyResult(spare, checked.ok, checked.latency_s)
        standby_state = "up" if checked.ok else "down"
        if previous.get("standby_state") != standby_state or previous.get("standby_url") != spare:
            why = "" if checked.ok else f" ({checked.failed_check}: {checked.detail[:160]})"
            result.events.append(f"line={name} standby url={spare} state={standby_state}{why}")
    result.consecutive_failures = 0 if result.ok else int(previous.get("consecutive_failures", 0)) + 1
    state = "up" if result.ok else "down"
    if previous.get("state") != state or previous.get("url") != url:
        why = "" if result.ok else f" ({result.failed_check}: {result.detail[:160]})"
        result.events.append(f"line={name} target={target} url={url} state={state}{why}")
    new_state = {
        "state": state,
        "url": url,
        "target": target,
        "consecutive_failures": result.consecutive_failures,
        "since": previous.get("since") if previous.get("state") == state else time.time(),
        "auto_failover_done": bool(previous.get("auto_failover_done")) and not result.ok,
    }
    if result.standby is not None and target != "titan":
        new_state["standby_state"] = "up" if result.standby.ok else "down"
        new_state["standby_url"] = result.standby.url
    auto = config.get("auto_failover") or {}
    if (
        auto.get("enabled")
        and not result.ok
        and target == "panda"
        and result.consecutive_failures >= int(auto.get("after_failures", 3))
        and not new_state["auto_failover_done"]
    ):
        new_state["auto_failover_done"] = True
        result.events.append(run_failover(name, auto.get("command") or []))
    write_atomically(state_path, json.dumps(new_state) + "\n")
    return result


def run_failover(line: str, command: list[str]) -> str:
    """Once per outage: the operator's failover command for this line ({line} is substituted)."""
    if not command:
        return f"line={line} auto-failover: no command configured"
    argv = [part.replace("{line}", line) for part in command]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"line={line} auto-failover: {argv[0]} could not run: {exc}"
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
    return f"line={line} auto-failover ran {argv[0]} (exit {done.returncode}): {tail[0][:200]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="outage-watch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text(encoding="utf-8"))
        lines = list(config["lines"])
        textfile, state_dir = Path(config["textfile"]), Path(config["state_dir"])
        if not lines or not all({"name", "env_file"} <= set(line) for line in lines):
            raise ValueError("every line needs a name and an env_file")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"outage-watch: bad config {args.config}: {exc}", file=sys.stderr)
        return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    results = [watch_line(line, config, state_dir) for line in lines]
    write_atomically(textfile, render_metrics(results, time.time()))
    for result in results:
        for event in result.events:
            print(f"chatterbox-outage-watch: {event}", flush=True)
    # The metrics carry the verdict: a unit that "fails" every minute would only add noise.
    return 0


if __name__ == "__main__":
    sys.exit(main())
