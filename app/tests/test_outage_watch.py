"""outage-watch over real HTTP: metrics per line with the URL's target name, one journal line per
state change, recovery, and the optional auto-failover that runs once per outage."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .conftest import TOKEN, stop_shim


def _setup(tmp_path: Path, panda_url: str, titan_url: str, auto: dict | None = None) -> Path:
    for name, url in (("main", panda_url), ("second", titan_url)):
        (tmp_path / f"{name}.env").write_text(f"CHATTERBOX_URL={url}\nCHATTERBOX_TOKEN={TOKEN}\n")
    config = {
        "lines": [{"name": n, "env_file": str(tmp_path / f"{n}.env")} for n in ("main", "second")],
        "targets": {"panda": panda_url, "titan": titan_url},
        "textfile": str(tmp_path / "textfile" / "chatterbox_tts.prom"),
        "state_dir": str(tmp_path / "state"),
        "timeout_s": 5,
        "auto_failover": auto or {"enabled": False},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _run(config: Path) -> tuple[int, str, dict[tuple[str, str], float]]:
    done = subprocess.run(
        [sys.executable, "-m", "chatterbox_panda_kit.outage_watch", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    textfile = Path(json.loads(config.read_text())["textfile"]).read_text()
    metrics = {}
    for name, labels, value in re.findall(r"^(chatterbox_tts_watch_\w+)\{(.*)\} (\S+)$", textfile, re.M):
        line = re.search(r'line="([^"]*)"', labels).group(1)
        metrics[(name.removeprefix("chatterbox_tts_watch_"), line)] = float(value)
    return done.returncode, done.stdout, metrics


def test_each_line_is_probed_at_its_current_url_and_changes_are_logged_once(shim_factory, tmp_path):
    panda, titan = shim_factory(), shim_factory()
    config = _setup(tmp_path, panda.url, titan.url)
    rc, out, metrics = _run(config)
    assert rc == 0
    assert metrics[("up", "main")] == 1
    assert metrics[("up", "second")] == 1
    assert metrics[("audio_seconds", "main")] > 0
    textfile = Path(json.loads(config.read_text())["textfile"]).read_text()
    assert f'line="main",target="panda",url="{panda.url}"' in textfile
    assert f'line="second",target="titan",url="{titan.url}"' in textfile
    assert TOKEN not in textfile
    assert out.count("state=up") == 3  # first sight of each line, and of line main's standby
    assert out.count(" standby url=") == 1  # line second is on Titan: its own probe is the standby's
    assert _run(config)[1] == ""  # nothing changed: nothing logged

    stop_shim(panda)
    rc, out, metrics = _run(config)
    assert rc == 0
    assert metrics[("up", "main")] == 0
    assert metrics[("up", "second")] == 1
    assert metrics[("consecutive_failures", "main")] == 1
    assert re.fullmatch(r"chatterbox-outage-watch: line=main target=panda url=\S+ state=down \(reachable: .*\)\n", out)
    rc, out, metrics = _run(config)
    assert out == ""
    assert metrics[("consecutive_failures", "main")] == 2

    # The daemon is repointed (a failover): the watch follows the file, and says so.
    (tmp_path / "main.env").write_text(f"CHATTERBOX_URL={titan.url}\nCHATTERBOX_TOKEN={TOKEN}\n")
    rc, out, metrics = _run(config)
    assert metrics[("up", "main")] == 1
    assert "line=main target=titan" in out
    assert "state=up" in out


def test_auto_failover_runs_once_per_outage_for_a_line_on_panda(shim_factory, tmp_path):
    panda, titan = shim_factory(), shim_factory()
    ran = tmp_path / "ran.txt"
    command = ["sh", "-c", f"echo {{line}} >> {ran}"]
    config = _setup(tmp_path, panda.url, titan.url, {"enabled": True, "after_failures": 2, "command": command})
    _run(config)
    stop_shim(panda)
    assert "auto-failover" not in _run(config)[1]  # one failure: not yet
    out = _run(config)[1]
    assert "line=main auto-failover ran sh (exit 0)" in out
    assert ran.read_text() == "main\n"
    assert "auto-failover" not in _run(config)[1]  # still down: not again
    assert ran.read_text() == "main\n"


def test_the_standby_is_probed_from_panda_at_the_url_a_failover_would_write(shim_factory, tmp_path):
    panda, titan = shim_factory(), shim_factory()
    config = _setup(tmp_path, panda.url, titan.url)
    # Line "main" is written with a path, as a daemon may hold the whole endpoint.
    (tmp_path / "main.env").write_text(f"CHATTERBOX_URL={panda.url}/v1/tts\nCHATTERBOX_TOKEN={TOKEN}\n")
    rc, out, metrics = _run(config)
    textfile = Path(json.loads(config.read_text())["textfile"]).read_text()
    assert metrics[("standby_up", "main")] == 1
    assert metrics[("standby_latency_seconds", "main")] > 0
    assert f'chatterbox_tts_watch_standby_up{{line="main",url="{titan.url}/v1/tts"}} 1.0' in textfile
    assert f"line=main standby url={titan.url}/v1/tts state=up" in out
    # Line "second" is on Titan already: its standby figure is its own probe's.
    assert metrics[("standby_up", "second")] == metrics[("up", "second")] == 1

    stop_shim(titan)
    rc, out, metrics = _run(config)
    assert rc == 0
    assert metrics[("up", "main")] == 1  # Panda is fine; only the standby is broken
    assert metrics[("standby_up", "main")] == 0
    assert f"line=main standby url={titan.url}/v1/tts state=down (reachable: " in out
    assert _run(config)[1].count("standby") == 0  # still down: said once


def test_a_bad_config_is_refused(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"lines": [{"name": "main"}], "textfile": "x", "state_dir": "y"}')
    done = subprocess.run(
        [sys.executable, "-m", "chatterbox_panda_kit.outage_watch", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "every line needs a name and an env_file" in done.stderr
