"""Shared fixtures: a real shim process on 127.0.0.1, the cached random-weights bundle, voices."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chatterbox_shim.weights import MANIFEST_FILE_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("SHIM_TEST_CACHE", REPO_ROOT / ".cache"))
TOKEN = "tok-3f9c1e-UNIQUE-test-token-7a2b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningShim:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post(self, json: object = None, token: str | None = None, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token is not None:
            headers["X-Internal-Token"] = token
        return httpx.post(self.url + "/v1/tts", json=json, headers=headers, timeout=300, **kwargs)  # type: ignore[arg-type]

    def metric(self, name: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def shim_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIM_") and not k.startswith("CHATTERBOX_")}
    env.update({"CHATTERBOX_TOKEN": TOKEN, "SHIM_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def chatterbox_env(bundle: Path, voices: Path, weights_dir: Path | None = None, **overrides: str) -> dict[str, str]:
    """Settings for the real engine on the random-weights bundle (verified against its own manifest)."""
    return shim_env(
        SHIM_ENGINE="chatterbox",
        SHIM_WEIGHTS_DIR=str(weights_dir or bundle),
        SHIM_WEIGHTS_MANIFEST=str(bundle / MANIFEST_FILE_NAME),
        SHIM_VOICES_DIR=str(voices),
        **overrides,
    )


def start_shim(tmp_path: Path, env: dict[str, str], wait_for: str = "/health", timeout: float = 60) -> RunningShim:
    port = free_port()
    env = {**env, "SHIM_PORT": str(port)}
    log_path = tmp_path / f"shim-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    shim = RunningShim(f"http://127.0.0.1:{port}", process, log_path, env.get("CHATTERBOX_TOKEN", ""))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shim exited with {process.returncode}:\n{shim.log_text()}")
        try:
            if httpx.get(shim.url + wait_for, timeout=2).status_code == 200:
                return shim
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_shim(shim)
    raise TimeoutError(f"shim not answering {wait_for} within {timeout}s:\n{shim.log_text()}")


def stop_shim(shim: RunningShim) -> None:
    if shim.process.poll() is None:
        shim.process.terminate()
        try:
            shim.process.wait(10)
        except subprocess.TimeoutExpired:
            shim.process.kill()
            shim.process.wait(5)


@pytest.fixture
def shim_factory(tmp_path: Path) -> Iterator[Callable[..., RunningShim]]:
    started: list[RunningShim] = []

    def factory(wait_for: str = "/ready", timeout: float = 60, **overrides: str) -> RunningShim:
        shim = start_shim(tmp_path, shim_env(**overrides), wait_for=wait_for, timeout=timeout)
        started.append(shim)
        return shim

    yield factory
    for shim in started:
        stop_shim(shim)


@pytest.fixture(scope="module")
def lab_shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShim]:
    """One lab-engine shim shared by the read-only contract tests of a module."""
    shim = start_shim(tmp_path_factory.mktemp("lab"), shim_env(SHIM_MAX_TEXT_CHARS="200"), wait_for="/ready")
    yield shim
    stop_shim(shim)


@pytest.fixture(scope="session")
def test_bundle() -> Path:
    """Random weights of the true shapes, generated once and cached between runs."""
    from chatterbox_tools.testbundle import bundle_is_current, write_test_bundle

    directory = CACHE_DIR / "test-bundle"
    if not bundle_is_current(directory):
        write_test_bundle(directory)
    return directory


@pytest.fixture(scope="session")
def test_voices() -> Path:
    from chatterbox_tools.testvoices import write_test_voices

    directory = CACHE_DIR / "test-voices"
    if not (directory / "metadata.json").is_file():
        if shutil.which("espeak-ng") is None:
            pytest.fail("espeak-ng is required for the voice tests (apt-get install espeak-ng; .ci/run installs it)")
        write_test_voices(directory)
    return directory
