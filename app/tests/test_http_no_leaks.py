"""The unauthenticated endpoints publish only the documented facts: no token, no path, no version.

docs/CONTRACT.md lists what /health, /ready and /metrics say; these tests hold the service to that
list, in a normal start and in a failed one (whose reason stays in the log).
"""

from __future__ import annotations

import contextlib
import platform
import re
import time
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from chatterbox_panda_kit import contract as c

from .conftest import shim_env, start_shim, stop_shim

SECRET = "leak-canary-5d1e0b7f-token"
HEALTH_KEYS = {"status", "state", "ready", "engine", "model", "contract", "sample_rate", "queue_depth", "uptime_s"}
READY_KEYS = {"ready", "engine", "voices", "load_s"}
NOT_READY_KEYS = {"ready", "state", "reason"}
METRIC_FAMILIES = {
    "tts_requests_total",
    "tts_synthesis_seconds",
    "tts_request_seconds",
    "tts_real_time_factor",
    "tts_audio_seconds_total",
    "tts_queue_depth",
    "tts_ready",
    "tts_invalid_audio_total",
    "tts_token_cap_hits_total",
    "tts_abandoned_total",
    "tts_client_timeouts_total",
    "tts_event_loop_lag_seconds",
    "tts_model_load_seconds",
    "tts_refusals_total",
    "tts_text_cleaned_total",
    "tts_params_clamped_total",
}


def _versions() -> list[str]:
    found = [platform.python_version()]
    for package in ("fastapi", "starlette", "uvicorn", "pydantic", "numpy", "prometheus-client", "chatterbox-shim"):
        try:
            found.append(metadata.version(package))
        except metadata.PackageNotFoundError:
            continue
    return found


def _start(tmp_path: Path, **overrides: str):
    secret_dir = tmp_path / "private-dir-9c41"
    secret_dir.mkdir()
    token_file = secret_dir / "token"
    token_file.write_text(SECRET)
    token_file.chmod(0o600)
    env = shim_env(CHATTERBOX_TOKEN_FILE=str(token_file), **overrides)
    del env["CHATTERBOX_TOKEN"]
    return start_shim(tmp_path, env, wait_for="/health")


def _assert_no_leak(text: str, where: str) -> None:
    assert SECRET not in text, where
    assert "private-dir-9c41" not in text, where
    assert not re.search(r"(?<![\w.])/(tmp|home|opt|etc|var|usr|root|work)/", text), (where, text[:400])
    for version in _versions():
        assert version not in text, (where, version)


def _published(shim) -> dict[str, httpx.Response]:
    return {path: httpx.get(shim.url + path, timeout=10) for path in (c.HEALTH_PATH, c.READY_PATH, c.METRICS_PATH)}


@pytest.mark.parametrize("start_fails", [False, True], ids=["ready", "start-up failed"])
def test_health_ready_and_metrics_publish_only_the_documented_facts(tmp_path, start_fails):
    # A 0 dBFS floor refuses the warm-up as silent: start-up fails after the server is listening.
    shim = _start(tmp_path, **({"SHIM_RMS_FLOOR_DBFS": "0"} if start_fails else {}))
    try:
        state = "failed" if start_fails else "ready"
        for _ in range(100):
            if httpx.get(shim.url + c.HEALTH_PATH).json()["state"] == state:
                break
        answers = _published(shim)
        for path, answer in answers.items():
            _assert_no_leak(answer.text, path)
            _assert_no_leak(str(answer.headers), path + " headers")

        health = answers[c.HEALTH_PATH].json()
        assert set(health) == HEALTH_KEYS
        assert health["state"] == state
        ready = answers[c.READY_PATH]
        if start_fails:
            assert ready.status_code == 503
            assert set(ready.json()) == NOT_READY_KEYS
            assert ready.json()["reason"] == "start-up failed; see the service log"
            assert "silent audio" in shim.log_text()  # the reason is in the log, for the operator
        else:
            assert ready.status_code == 200
            assert set(ready.json()) == READY_KEYS
        families = set(re.findall(r"^# TYPE (\S+) ", answers[c.METRICS_PATH].text, re.M))
        assert families == METRIC_FAMILIES

        # The error answers and the OpenAPI document are public too.
        refusals = [
            httpx.post(shim.url + c.TTS_PATH, json={"text": "hi"}),
            httpx.post(shim.url + c.TTS_PATH, json={"text": "hi"}, headers={c.TOKEN_HEADER: SECRET[:-1]}),
            httpx.get(shim.url + "/no-such-path"),
            httpx.get(shim.url + "/openapi.json"),
        ]
        for answer in refusals:
            _assert_no_leak(answer.text, str(answer.request.url))
        assert SECRET not in shim.log_text()
    finally:
        stop_shim(shim)


def test_a_failed_start_up_stays_on_health_then_exits_non_zero(tmp_path):
    """The restart policy needs a non-zero exit; the failover gate needs /health to say "failed"."""
    shim = _start(tmp_path, SHIM_RMS_FLOOR_DBFS="0", SHIM_FAILED_EXIT_AFTER_SECONDS="2")
    try:
        deadline = time.monotonic() + 30
        seen_failed = False
        while shim.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                seen_failed |= httpx.get(shim.url + c.HEALTH_PATH, timeout=2).json()["state"] == "failed"
            time.sleep(0.1)
        assert seen_failed
        assert shim.process.wait(10) == 4
        log = shim.log_text()
        assert '"msg": "start-up failed: exiting for the restart policy"' in log
        assert "silent audio" in log
        assert SECRET not in log
    finally:
        if shim.process.poll() is None:
            shim.process.kill()
