"""drill-window over real HTTP: a clean window, an operator's early end, failures over the
threshold (the shim killed mid-window) and an interrupt."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import TOKEN, stop_shim


def _env_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "phone.env"
    path.write_text(f"# line\nCHATTERBOX_URL={url}\nCHATTERBOX_TOKEN={TOKEN}\n")
    return path


def _window(tmp_path: Path, env_file: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "chatterbox_panda_kit.drill_window", "--env-file", str(env_file)]
    argv += ["--interval", "0.3", "--timeout", "5", "--json", str(tmp_path / "window.json"), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _summary(tmp_path: Path, process: subprocess.Popen[str]) -> dict:
    assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    return json.loads((tmp_path / "window.json").read_text())


def test_a_clean_window_probes_until_it_ends(shim_factory, tmp_path):
    shim = shim_factory()
    started = time.monotonic()
    summary = _summary(tmp_path, _window(tmp_path, _env_file(tmp_path, shim.url), "--seconds", "2"))
    assert 1.8 < time.monotonic() - started < 10
    assert summary["ended_by"] == "window elapsed"
    assert summary["probes"] >= 4
    assert summary["failures"] == 0
    assert summary["latency_p50_s"] > 0
    assert summary["audio_s_total"] > 0
    assert summary["urls"] == [shim.url]


def test_the_operator_ends_the_window_with_the_stop_file(shim_factory, tmp_path):
    shim = shim_factory()
    stop = tmp_path / "drill.stop"
    process = _window(tmp_path, _env_file(tmp_path, shim.url), "--seconds", "60", "--stop-file", str(stop))
    time.sleep(1.5)
    stop.touch()
    summary = _summary(tmp_path, process)
    assert summary["ended_by"] == "operator"
    assert summary["actual_s"] < 10


def test_failures_over_the_threshold_end_the_window_early(shim_factory, tmp_path):
    shim = shim_factory()
    process = _window(tmp_path, _env_file(tmp_path, shim.url), "--seconds", "60", "--max-failures", "2")
    time.sleep(1.5)
    stop_shim(shim)  # Titan's shim dies mid-window
    summary = _summary(tmp_path, process)
    assert summary["ended_by"] == "failures over the threshold"
    assert summary["failures"] == 3
    assert summary["probes"] > summary["failures"]
    assert {p["failed_check"] for p in summary["failed_probes"]} == {"reachable"}
    assert summary["actual_s"] < 15


def test_an_interrupt_ends_the_window_and_still_writes_the_summary(shim_factory, tmp_path):
    shim = shim_factory()
    process = _window(tmp_path, _env_file(tmp_path, shim.url), "--seconds", "60")
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    summary = _summary(tmp_path, process)
    assert summary["ended_by"] == "interrupted"
    assert summary["probes"] >= 1
