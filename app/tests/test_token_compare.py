"""The token check is constant-time: every comparison goes through hmac.compare_digest, for a
missing-prefix guess and a nearly-right guess alike, and a wrong token never reaches the body."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from chatterbox_panda_kit import contract as c
from chatterbox_shim.http_app import create_app
from chatterbox_shim.service import build_service
from chatterbox_shim.settings import Settings

SECRET = "s3cret-token-for-the-compare-test-0123456789"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(engine="lab", token=SecretStr(SECRET))
    service = build_service(settings, SecretStr(SECRET))
    with TestClient(create_app(service), base_url="http://127.0.0.1") as test_client:
        deadline = time.monotonic() + 30
        while test_client.get(c.READY_PATH).status_code != 200:
            assert time.monotonic() < deadline, "the lab engine never became ready"
            time.sleep(0.05)
        yield test_client


@pytest.mark.parametrize("guess", ["x", SECRET[:-1] + "X", SECRET + "0", SECRET])
def test_every_token_check_uses_compare_digest(client: TestClient, monkeypatch: pytest.MonkeyPatch, guess: str) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    response = client.post(c.TTS_PATH, json={"text": "Hello."}, headers={c.TOKEN_HEADER: guess})
    assert calls == [(guess.encode(), SECRET.encode())]
    assert response.status_code == (200 if guess == SECRET else 401)
