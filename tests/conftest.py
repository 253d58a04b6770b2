"""The local lab as a pytest fixture: real containers, real systemd, real Ansible runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB_ROOT = Path(os.environ.get("CHATTERBOX_LAB_ROOT", "/tmp/chatterbox-lab-tests"))
PANDA = "chatterbox-lab-panda"
SHIM = "chatterbox-lab-shim"
PANDA_TTS = "chatterbox-lab-panda-tts"
ENV_FILE = "/etc/annie/phone.env"
STATE_DIR = "/var/lib/chatterbox-failover"
TITAN_URL = "http://127.0.0.1:8773"
PANDA_URL = "http://127.0.0.1:8772"


def lab_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CHATTERBOX_LAB_ROOT=str(LAB_ROOT),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        PATH=f"{REPO / '.venv' / 'bin'}:{env['PATH']}",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    return env


def sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


def on_panda(command: str, check: bool = True) -> str:
    return sh("docker", "exec", PANDA, "sh", "-c", command, check=check)


def stop_shim_once_flipped(env_file: str, after_s: float = 0.0) -> tuple[threading.Thread, threading.Event]:
    """In the background: stop Titan's shim `after_s` seconds after `env_file` first points at it.
    Join the thread after the run; the event says whether the shim was stopped."""
    stopped = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if TITAN_URL in on_panda(f"grep ^CHATTERBOX_URL= {env_file}", check=False):
                time.sleep(after_s)
                sh("docker", "stop", "-t", "0", SHIM)
                stopped.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher, stopped


def end_drill_once_flipped(
    lab: Lab, line: str, env_file: str, after_s: float, *extra: str
) -> tuple[threading.Thread, list[PlaybookRun]]:
    """In the background: `after_s` seconds into the drill's window (counted from the line's env file
    first pointing at Titan), end it with the operator's account (drill-end.yml, heard=yes and
    `extra`). Join the thread after the drill; the list holds drill-end's run."""
    results: list[PlaybookRun] = []

    def end() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if TITAN_URL in on_panda(f"grep ^CHATTERBOX_URL= {env_file}", check=False):
                time.sleep(after_s)
                results.append(lab.playbook("drill-end.yml", "-e", f"line={line}", "-e", "heard=yes", *extra))
                return
            time.sleep(0.2)

    thread = threading.Thread(target=end, daemon=True)
    thread.start()
    return thread, results


@dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float

    @property
    def said(self) -> str:
        """The output with its whitespace collapsed: the YAML callback folds long messages anywhere."""
        return " ".join(self.output.split())

    def changed(self, host: str = "lab-panda") -> int:
        match = re.search(rf"^{host}\s*:.*changed=(\d+)", self.output, re.M)
        assert match, self.output[-2000:]
        return int(match.group(1))


class Lab:
    def playbook(self, name: str, *extra: str, timeout: float = 600) -> PlaybookRun:
        started = time.perf_counter()
        result = subprocess.run(
            ["ansible-playbook", "-i", "inventory/lab", f"ansible/{name}", *extra],
            cwd=REPO,
            env=lab_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return PlaybookRun(
            result.returncode,
            result.stdout + result.stderr,
            time.perf_counter() - started,
        )

    def env_sha256(self) -> str:
        return on_panda(f"sha256sum {ENV_FILE}").split()[0]

    def env_owner_mode(self) -> str:
        return on_panda(f"stat -c '%U:%G %a' {ENV_FILE}").strip()

    def url_in_file(self) -> str:
        return re.search(r"^CHATTERBOX_URL=(.*)$", on_panda(f"cat {ENV_FILE}"), re.M).group(1)

    def daemon_url(self) -> str:
        """CHATTERBOX_URL from the running daemon's own environment."""
        pid = on_panda("systemctl show -p MainPID --value annie-phone.service").strip()
        environ = on_panda(f"tr '\\0' '\\n' < /proc/{pid}/environ")
        return re.search(r"^CHATTERBOX_URL=(.*)$", environ, re.M).group(1)

    def audit(self) -> list[dict]:
        text = on_panda(f"cat {STATE_DIR}/audit.log 2>/dev/null || true")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def failed_over(self) -> bool:
        return on_panda(f"test -e {STATE_DIR}/default/state.json && echo yes || echo no").strip() == "yes"

    def wait_ready(self, url: str, timeout: float = 60) -> None:
        # Panda's TTS is the lab's stand-in (lab/panda_tts): it has /health, not the shim's /ready.
        path = "/health" if url == PANDA_URL else "/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if subprocess.run(["curl", "-fs", f"{url}{path}"], capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        raise TimeoutError(url)

    def start(self, container: str, url: str) -> None:
        sh("docker", "start", container)
        self.wait_ready(url)

    def stop(self, container: str) -> None:
        sh("docker", "stop", "-t", "2", container)

    def reset(self) -> None:
        """Back to normal: Panda's TTS and Titan's shim up, the daemon on Panda, no lock."""
        self.start(PANDA_TTS, PANDA_URL)
        self.start(SHIM, TITAN_URL)
        on_panda(f"rm -rf {STATE_DIR}/lock")
        if self.failed_over():
            run = self.playbook("rollback.yml")
            assert run.rc == 0, run.output[-3000:]


def lab_sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/lab.sh", command], cwd=REPO, env=lab_env(), check=False, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    lab_sh("down")
    up = lab_sh("up")
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    the_lab = Lab()
    # Both lines' contracts are learned from the lab's Panda (the drill of line "second" needs its own).
    standby = the_lab.playbook("standby.yml", "-e", "@ansible/lab/two-lines.yml")
    assert standby.rc == 0, standby.output[-4000:]
    yield the_lab
    if os.environ.get("KEEP_LAB") != "1":
        lab_sh("down")


@pytest.fixture
def normal(lab: Lab) -> Lab:
    lab.reset()
    return lab
