"""Fuzzing POST /v1/tts over real HTTP: schema-driven cases from the service's own OpenAPI document
(schemathesis, positive and negative), and property-based raw bodies (hypothesis).

The promise checked on every case: the answer is a valid, audible 200 or a documented 4xx with a
JSON detail; never a 5xx (the lab engine cannot fail, so a 500 here is a bug in the HTTP layer),
never a dropped connection, and the service is healthy afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit.probe import answer_problem
from chatterbox_shim.http_app import create_app
from chatterbox_shim.service import build_service
from chatterbox_shim.settings import Settings

from .conftest import TOKEN, RunningShim, shim_env, start_shim, stop_shim

# Thousands of cases in CI; FUZZ_EXAMPLES scales them for a longer local run.
SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
MAX_TEXT_CHARS = 300
MAX_BODY_BYTES = 8192
# 405: schemathesis also tries the path with other methods.
REFUSALS = {401, 404, 405, 408, 413, 422}


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(10, int(examples * SCALE)),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )


def _service_openapi() -> dict[str, object]:
    """The document the service itself publishes (built in process, never fetched)."""
    service_settings = Settings(token=SecretStr("openapi-only"), max_text_chars=MAX_TEXT_CHARS)
    service = build_service(service_settings, SecretStr("openapi-only"))
    return create_app(service).openapi()


# 413 (text over the configured limit) and 404 (voice not in the allowlist) are how this service
# rejects a request; schemathesis's default list of rejections lacks 413.
schema = schemathesis.openapi.from_dict(
    _service_openapi(),
    config=schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [401, 404, 405, 413, 422]}}}
    ),
)


@pytest.fixture(scope="module")
def fuzz_shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShim]:
    env = shim_env(
        SHIM_MAX_TEXT_CHARS=str(MAX_TEXT_CHARS),
        SHIM_MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        SHIM_QUEUE_DEPTH="64",
        SHIM_LOG_LEVEL="WARNING",
    )
    shim = start_shim(tmp_path_factory.mktemp("fuzz"), env, wait_for="/ready")
    shim.client = httpx.Client(base_url=shim.url, timeout=30)  # type: ignore[attr-defined]
    yield shim
    shim.client.close()  # type: ignore[attr-defined]
    stop_shim(shim)


def assert_sane(response: httpx.Response) -> None:
    if response.status_code == 200:
        problem = answer_problem(200, response.headers, response.content)
        assert problem is None, problem
        return
    assert response.status_code in REFUSALS, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def assert_still_healthy(shim: RunningShim) -> None:
    assert shim.process.poll() is None, "the service exited"
    assert httpx.get(shim.url + c.READY_PATH, timeout=10).status_code == 200
    assert shim.metric('tts_requests_total{status="500"}') == 0
    assert "Traceback" not in shim.log_text()


@schema.include(path=c.TTS_PATH, method="POST").parametrize()
@fuzz_settings(1500)
def test_tts_cases_from_the_openapi_document(case, fuzz_shim):
    # The generated token is random; the real one lets the body reach validation and synthesis.
    response = case.call(base_url=fuzz_shim.url, headers={c.TOKEN_HEADER: TOKEN}, timeout=30)
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    assert_sane(httpx.Response(response.status_code, headers=headers, content=response.content))
    # schemathesis's own checks: documented status codes and content types, header and body schemas.
    case.validate_response(response)


def test_the_service_survived_the_schema_fuzzing(fuzz_shim):
    assert fuzz_shim.metric("tts_requests_total") >= 1000 * SCALE
    assert_still_healthy(fuzz_shim)


# --- Raw bodies: what a careless client or a hostile one sends, not what the schema says. ---

unicode_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=80)
edge_texts = st.sampled_from(
    [
        "\u200b",  # zero-width space only
        "\ufeffHello",  # byte order mark
        "e\u0301" * 40,  # combining accents
        "\U0001f600" * 10,  # emoji
        "\u202eevil\u202c",  # right-to-left override
        "\ud800",  # a lone surrogate (escaped in JSON)
        "a\x00b",  # NUL
        " \t\n\r ",  # whitespace only
        "\U0010ffff",  # the last code point
        "Ωmega " * 49,  # just under the limit
        "x" * (MAX_TEXT_CHARS + 1),  # just over
    ]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    unicode_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(unicode_text, inner, max_size=4),
    max_leaves=12,
)
tts_objects = st.fixed_dictionaries(
    {"text": unicode_text | edge_texts},
    optional={
        "voice": st.none() | unicode_text | st.sampled_from([c.DEFAULT_VOICE, c.DEFAULT_VOICE + ".wav", "../etc"]),
        "exaggeration": json_scalars,
        "cfg_weight": json_scalars,
        "temperature": json_scalars,
        "seed": st.integers(min_value=-(2**70), max_value=2**70) | json_scalars,
        "extra": json_values,
    },
)
special_literals = st.sampled_from(
    [
        b'{"text": "hi", "seed": 1e999}',
        b'{"text": "hi", "exaggeration": NaN}',
        b'{"text": "hi", "cfg_weight": Infinity}',
        b'{"text": "hi", "temperature": -Infinity}',
        b'{"text": "hi", "seed": ' + b"9" * 5000 + b"}",
        b'{"text": "hi", "text": "twice"}',
        b'{"text": "\\ud800"}',
        b'{"text": "hi"} trailing',
        b"",
        b"null",
        b"[]",
        b'"just a string"',
        b"\xef\xbb\xbf" + b'{"text": "BOM first"}',
        b'{"text": "caf\xe9"}',  # latin-1, not UTF-8
        b"\xff\xfe{\x00}\x00",
    ]
)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b'{"text": "deep", "extra": ' + b"[" * depth + b"]" * depth + b"}"
    return b'{"text": "deep", "extra": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


bodies = st.one_of(
    tts_objects.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    special_literals,
    st.binary(max_size=512),
    st.builds(_nested, st.integers(min_value=1, max_value=2000), st.sampled_from(["list", "object"])),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        None,
    ]
)


@fuzz_settings(1500)
@given(body=bodies, content_type=content_types)
def test_raw_bodies_never_break_the_service(fuzz_shim, body, content_type):
    headers = {c.TOKEN_HEADER: TOKEN}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = fuzz_shim.client.post(c.TTS_PATH, content=body, headers=headers)
    assert_sane(response)
    if len(body) > MAX_BODY_BYTES:
        assert response.status_code == 413


@fuzz_settings(300)
@given(
    token=st.one_of(
        st.just(TOKEN[:-1]),
        st.just(TOKEN + "x"),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=200),
        # Any byte a header value may carry (obs-text included), as a hostile client would send.
        st.lists(st.integers(0x21, 0xFF).filter(lambda b: b != 0x7F), max_size=100).map(bytes),
    )
)
def test_any_wrong_token_is_a_401(fuzz_shim, token):
    if token in (TOKEN, TOKEN.encode()):
        return
    response = fuzz_shim.client.post(c.TTS_PATH, json={"text": "hello"}, headers={c.TOKEN_HEADER: token})
    assert response.status_code == 401
    assert TOKEN not in response.text


def test_oversized_bodies_get_413_without_being_read(fuzz_shim):
    headers = {c.TOKEN_HEADER: TOKEN, "Content-Type": "application/json"}
    declared = fuzz_shim.client.post(
        c.TTS_PATH, content=b'{"text": "' + b"x" * (MAX_BODY_BYTES * 4) + b'"}', headers=headers
    )
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield b'{"text": "'
        for _ in range(64):
            yield b"y" * 1024
        yield b'"}'

    streamed = fuzz_shim.client.post(c.TTS_PATH, content=chunks(), headers=headers)
    assert streamed.status_code == 413
    long_text = fuzz_shim.client.post(c.TTS_PATH, json={"text": "z" * (MAX_TEXT_CHARS + 1)}, headers=headers)
    assert long_text.status_code == 413


def test_the_service_survived_the_raw_fuzzing(fuzz_shim):
    # Every case of this module reached the service: thousands in all.
    assert fuzz_shim.metric("tts_requests_total") >= 2500 * SCALE
    assert_still_healthy(fuzz_shim)
