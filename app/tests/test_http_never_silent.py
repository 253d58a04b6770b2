"""A synthesis that is silent, empty, non-finite or broken is a 500, never a 200.

The real service code (settings, ShimService, worker, FastAPI app, uvicorn on 127.0.0.1) runs
around test engines that misbehave on purpose; each is named for the fault it injects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import uvicorn
from pydantic import SecretStr

from chatterbox_panda_kit import contract as c
from chatterbox_shim.engines.base import Engine, EngineOutput, SynthesisParams
from chatterbox_shim.http_app import create_app
from chatterbox_shim.service import ShimService
from chatterbox_shim.settings import Settings

from .conftest import TOKEN

VOICE = c.DEFAULT_VOICE
FAULTS = {
    "silence": np.zeros(24000, dtype=np.float32),
    "near_silence": np.full(24000, 1e-5, dtype=np.float32),
    "empty": np.zeros(0, dtype=np.float32),
    "nan": np.array([0.1, np.nan] * 12000, dtype=np.float32),
    "inf": np.array([0.1, np.inf] * 12000, dtype=np.float32),
}
GOOD = (0.2 * np.sin(np.linspace(0, 2000, 24000))).astype(np.float32)


class FaultInjectingEngine(Engine):
    """Answers with the fault named in the text; 'good' gives a valid tone; 'raise' raises."""

    name = "fault-injecting-test-engine"

    @property
    def voices(self) -> frozenset[str]:
        return frozenset({VOICE})

    def load(self) -> None:
        self.load_seconds = 0.0

    def synthesize(self, params: SynthesisParams, max_new_tokens: int | None = None) -> EngineOutput:
        if params.text == "raise":
            raise RuntimeError("CUDA error: device-side assert triggered")
        if params.text == "warmup" or params.text == "good":
            return EngineOutput(wav=GOOD)
        return EngineOutput(wav=FAULTS[params.text])


class SilentWarmupEngine(FaultInjectingEngine):
    name = "silent-warmup-test-engine"

    def synthesize(self, params: SynthesisParams, max_new_tokens: int | None = None) -> EngineOutput:
        return EngineOutput(wav=FAULTS["silence"])


def _serve(engine: Engine) -> Iterator[tuple[str, ShimService]]:
    settings = Settings(token=TOKEN, warmup_text="warmup")
    service = ShimService(settings, SecretStr(TOKEN), engine)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, ShimService]]:
    yield from _serve(FaultInjectingEngine())


def _wait_state(url: str, ready: bool) -> None:
    deadline = time.monotonic() + 10
    while (httpx.get(url + c.READY_PATH).status_code == 200) != ready:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_invalid_audio_is_500(faulty, fault):
    url, service = faulty
    _wait_state(url, ready=True)
    before = service.metrics.invalid_audio._value.get()
    response = httpx.post(url + c.TTS_PATH, json={"text": fault}, headers={c.TOKEN_HEADER: TOKEN})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "invalid audio" in response.json()["detail"]
    assert service.metrics.invalid_audio._value.get() == before + 1


def test_engine_exception_is_500_and_service_recovers(faulty):
    url, _ = faulty
    _wait_state(url, ready=True)
    response = httpx.post(url + c.TTS_PATH, json={"text": "raise"}, headers={c.TOKEN_HEADER: TOKEN})
    assert response.status_code == 500
    assert response.json() == {"detail": "synthesis failed (RuntimeError)"}
    good = httpx.post(url + c.TTS_PATH, json={"text": "good"}, headers={c.TOKEN_HEADER: TOKEN})
    assert good.status_code == 200
    assert len(good.content) == 2 * GOOD.size


def test_silent_warmup_means_never_ready():
    for url, service in _serve(SilentWarmupEngine()):
        deadline = time.monotonic() + 10
        while service.state.value != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ready = httpx.get(url + c.READY_PATH)
        assert ready.status_code == 503
        assert ready.json()["state"] == "failed"
        assert "silent" not in ready.text  # the reason goes to the log, not to callers
        response = httpx.post(url + c.TTS_PATH, json={"text": "good"}, headers={c.TOKEN_HEADER: TOKEN})
        assert response.status_code == 503
        assert "silent" in (service.failure or "")
