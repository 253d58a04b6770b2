"""The HTTP contract over real HTTP against a real shim process (lab engine), 127.0.0.1 only."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from chatterbox_panda_kit import contract as c
from chatterbox_shim.audio import from_pcm16, to_pcm16
from chatterbox_shim.engines.base import SynthesisParams
from chatterbox_shim.engines.lab import render

from .conftest import TOKEN


def expected_pcm(text: str, voice: str = c.DEFAULT_VOICE, seed: int | None = None, exaggeration: float = 0.5) -> bytes:
    return to_pcm16(render(SynthesisParams(text, voice, exaggeration, 0.5, 0.8, seed)), rms_floor_dbfs=-60).data


def test_success_framing_and_headers(lab_shim):
    text = "Hello, this is Annie speaking from Titan."
    response = lab_shim.post({"text": text, "seed": 7}, token=TOKEN)
    assert response.status_code == 200
    body = response.content
    samples = len(body) // 2
    assert len(body) % 2 == 0
    assert samples > 0
    h = response.headers
    assert h["content-type"] == "application/octet-stream"
    assert int(h["content-length"]) == len(body) == 2 * samples
    assert h["x-audio-duration"] == f"{samples / 24000:.3f}"
    assert abs(float(h["x-audio-duration"]) * 24000 - samples) <= 12  # 0.0005 s of rounding
    assert (h["x-sample-rate"], h["x-channels"], h["x-format"]) == ("24000", "1", "pcm_s16le")
    assert body == expected_pcm(text, seed=7)
    wav = from_pcm16(body)
    assert float(np.sqrt(np.mean(wav**2))) > 0.01


def test_without_a_record_the_built_in_defaults_are_served(lab_shim):
    response = lab_shim.post({"text": "Order check."}, token=TOKEN)
    names = [k.decode() for k, _ in response.headers.raw]
    assert names == [
        "date",
        "server",
        "x-audio-duration",
        "x-sample-rate",
        "x-channels",
        "x-format",
        "content-length",
        "content-type",
    ]


def test_voice_with_or_without_wav_suffix(lab_shim):
    plain = lab_shim.post({"text": "Same voice.", "voice": "samantha_evolving", "seed": 1}, token=TOKEN)
    suffixed = lab_shim.post({"text": "Same voice.", "voice": "samantha_evolving.wav", "seed": 1}, token=TOKEN)
    assert plain.status_code == suffixed.status_code == 200
    assert plain.content == suffixed.content


def test_unknown_fields_are_accepted_and_logged_once(lab_shim):
    for _ in range(3):
        response = lab_shim.post({"text": "Extra fields.", "speed": 1.1, "caller_id": "line-2"}, token=TOKEN)
        assert response.status_code == 200
    log = lab_shim.log_text()
    assert log.count('"field": "speed"') == 1
    assert log.count('"field": "caller_id"') == 1
    assert "line-2" not in log  # names only, never values


@pytest.mark.parametrize(
    ("headers", "detail"),
    [({}, "missing"), ({c.TOKEN_HEADER: "wrong"}, "invalid"), ({c.TOKEN_HEADER: TOKEN + "x"}, "invalid")],
)
def test_auth_required(lab_shim, headers, detail):
    response = httpx.post(lab_shim.url + c.TTS_PATH, json={"text": "hi"}, headers=headers)
    assert response.status_code == 401
    assert detail in response.json()["detail"]


def test_auth_comes_before_any_work(lab_shim):
    before = lab_shim.metric("tts_synthesis_seconds_count")
    for body in ({"text": "would synthesize"}, "{not json", {"text": ""}):
        content = body if isinstance(body, str) else json.dumps(body)
        response = httpx.post(
            lab_shim.url + c.TTS_PATH,
            content=content,
            headers={c.TOKEN_HEADER: "nope", "content-type": "application/json"},
        )
        assert response.status_code == 401
    assert lab_shim.metric("tts_synthesis_seconds_count") == before


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "   \n\t "},
        {"text": "\u0000\u0007\u202e\u200b"},
        {},
        {"text": 42},
        {"text": None},
        {"text": ["a"]},
        {"text": "hi", "exaggeration": "high"},
        {"text": "hi", "seed": 1.5},
        {"text": "hi", "voice": 3},
        ["text", "hi"],
        "hi",
    ],
)
def test_invalid_bodies_are_422(lab_shim, payload):
    response = lab_shim.post(payload, token=TOKEN)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("payload", "spoken_as"),
    [
        # What a default pydantic model reads: numeric strings, booleans, unknown fields.
        ({"text": "hi", "exaggeration": "0.7"}, {"text": "hi", "exaggeration": 0.7}),
        ({"text": "hi", "seed": "7", "extra": {"a": 1}}, {"text": "hi", "seed": 7}),
        # Out of the model's safe range: clamped, not refused.
        ({"text": "hi", "exaggeration": 9}, {"text": "hi", "exaggeration": c.EXAGGERATION_MAX}),
        ({"text": "hi", "cfg_weight": 0}, {"text": "hi", "cfg_weight": c.CFG_WEIGHT_MIN}),
        ({"text": "hi", "seed": -1}, {"text": "hi", "seed": c.SEED_MAX}),
        # Control and format characters are removed and the rest is spoken.
        ({"text": "nul\u0000byte\u0007 \u202eright"}, {"text": "nulbyte right"}),
    ],
)
def test_lax_bodies_are_spoken(lab_shim, payload, spoken_as):
    response = lab_shim.post(payload, token=TOKEN)
    assert response.status_code == 200, response.text
    params = {"exaggeration": 0.5, "seed": None, **{k: v for k, v in spoken_as.items() if k != "cfg_weight"}}
    assert response.content == expected_pcm(**params)


def test_refusals_are_counted_by_reason_without_the_text(lab_shim):
    before = lab_shim.metric('tts_refusals_total{reason="no_text"}')
    assert lab_shim.post({"text": "\u200bsecret-refused-text\u0000"[:1]}, token=TOKEN).status_code == 422
    assert lab_shim.metric('tts_refusals_total{reason="no_text"}') == before + 1
    assert lab_shim.post({"text": "hi"}, token="wrong").status_code == 401
    assert lab_shim.metric('tts_refusals_total{reason="token_wrong"}') >= 1
    assert lab_shim.post({"text": "ab\u0007 secret-cleaned-text"}, token=TOKEN).status_code == 200
    assert "secret-cleaned-text" not in lab_shim.log_text()


def test_two_token_headers_are_refused_even_when_one_is_right(lab_shim):
    for tokens in ([TOKEN, "wrong"], ["wrong", TOKEN], [TOKEN, TOKEN]):
        response = httpx.post(
            lab_shim.url + c.TTS_PATH,
            json={"text": "hi"},
            headers=[(c.TOKEN_HEADER, value) for value in tokens],
        )
        assert response.status_code == 401, tokens


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"text": NaN}', "application/json"),
        (b'{"text": "hi", "exaggeration": Infinity}', "application/json"),
        (b'{"text": "\xff\xfe"}', "application/json"),
        (b'{"text": "\\ud800"}', "application/json"),
        (b"text=hi", "application/x-www-form-urlencoded"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b"", "application/json"),
    ],
)
def test_malformed_bodies_are_422(lab_shim, content, content_type):
    response = httpx.post(
        lab_shim.url + c.TTS_PATH, content=content, headers={c.TOKEN_HEADER: TOKEN, "content-type": content_type}
    )
    assert response.status_code == 422, response.text


def test_text_over_limit_is_413(lab_shim):
    assert lab_shim.post({"text": "x" * 200}, token=TOKEN).status_code == 200
    response = lab_shim.post({"text": "x" * 201}, token=TOKEN)
    assert response.status_code == 413
    assert "200 characters" in response.json()["detail"]


def test_body_over_limit_is_413(lab_shim):
    response = lab_shim.post({"text": "hi", "padding": "x" * 100_000}, token=TOKEN)
    assert response.status_code == 413


@pytest.mark.parametrize("voice", ["nobody", "../../etc/passwd", "samantha_evolving.mp3", ""])
def test_unknown_voice_is_404(lab_shim, voice):
    response = lab_shim.post({"text": "hi", "voice": voice}, token=TOKEN)
    assert response.status_code == 404
    assert response.json() == {"detail": "voice not in the allowlist"}


def test_read_only_endpoints_need_no_token_and_leak_nothing(lab_shim):
    for path in (c.HEALTH_PATH, c.READY_PATH, c.METRICS_PATH):
        response = httpx.get(lab_shim.url + path)
        assert response.status_code == 200
        assert TOKEN not in response.text
        assert "/tmp" not in response.text
        assert "/work" not in response.text
        assert "/home" not in response.text
    health = httpx.get(lab_shim.url + c.HEALTH_PATH).json()
    assert health["engine"] == "lab-tone"
    assert health["state"] == "ready"


def test_metrics_exposition(lab_shim):
    lab_shim.post({"text": "count me"}, token=TOKEN)
    text = httpx.get(lab_shim.url + c.METRICS_PATH).text
    for name in (
        "tts_requests_total",
        "tts_synthesis_seconds_bucket",
        "tts_real_time_factor_bucket",
        "tts_audio_seconds_total",
        "tts_queue_depth",
        "tts_ready 1.0",
    ):
        assert name in text
    assert 'tts_requests_total{status="200"}' in text


def test_openapi_documents_the_request(lab_shim):
    spec = httpx.get(lab_shim.url + "/openapi.json").json()
    operation = spec["paths"][c.TTS_PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["text"]
    assert {"text", "voice", "exaggeration", "cfg_weight", "temperature", "seed"} <= set(schema["properties"])
    assert {"200", "401", "404", "413", "422", "500", "503"} <= set(operation["responses"])


def test_token_never_logged(lab_shim):
    wrong = "WRONG-token-0d9e8f-should-not-appear"
    lab_shim.post({"text": "hi"}, token=wrong)
    lab_shim.post({"text": "hi"}, token=TOKEN)
    lab_shim.post({"text": TOKEN}, token=TOKEN)  # even when a caller puts it in the text
    log = lab_shim.log_text()
    assert '"status": 200' in log
    assert '"status": 401' in log
    assert TOKEN not in log
    assert wrong not in log
