"""The shim answers as a recorded Panda it has never seen: records made up here (header names,
spelling, order, values, duration style, sample rate, error answers), a real shim started with
each, and the contract check and the raw wire compared with the record. Records the shim cannot
honour stop its start with a message that names why."""

from __future__ import annotations

import copy
import json
import random
import socket
from pathlib import Path
from typing import Any

import pytest

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit import contract_spec
from chatterbox_shim.answer_shape import builtin_record

from .conftest import TOKEN, shim_env, start_shim, stop_shim

RATES = (8000, 16000, 22050, 24000, 44100, 48000)
STYLES = ("fixed:1", "fixed:2", "fixed:3", "fixed:4", "round:2", "round:3", "repr")


def respell(name: str, rng: random.Random) -> str:
    return rng.choice([name.lower(), name.title(), name.upper(), name])


def made_up_record(seed: int) -> dict[str, Any]:
    """A Panda nobody has seen: every choice the record format allows, drawn at random."""
    rng = random.Random(seed)
    rate = rng.choice(RATES)
    duration = {"name": respell(c.HEADER_AUDIO_DURATION, rng), "format": "seconds", "styles": [rng.choice(STYLES)]}
    audio_headers = [
        {"name": respell(c.HEADER_SAMPLE_RATE, rng), "exact": str(rate)},
        {"name": respell(c.HEADER_CHANNELS, rng), "exact": "1"},
        {"name": respell(c.HEADER_FORMAT, rng), "exact": rng.choice(["pcm_s16le", "s16le", "int16", "raw"])},
        {"name": rng.choice(["X-Powered-By", "cache-control", "X-Model"]), "exact": rng.choice(["her-os", "no-store"])},
    ]
    rng.shuffle(audio_headers)
    audio_headers = audio_headers[: rng.randint(1, len(audio_headers))]
    audio_headers.insert(rng.randint(0, len(audio_headers)), duration)
    body_headers = [
        {"name": respell("content-length", rng), "format": "body-length"},
        {
            "name": respell("content-type", rng),
            "exact": rng.choice(["application/octet-stream", "audio/pcm", "audio/L16"]),
        },
    ]
    ambient = [
        {"name": respell("date", rng), "format": "http-date"},
        {"name": "server", "exact": rng.choice(["uvicorn", "hypercorn-h11", "Panda/1.0"])},
    ]
    ambient = ambient[: rng.randint(0, 2)]
    success = ambient + audio_headers + body_headers
    if rng.random() < 0.5:
        success = ambient + body_headers + audio_headers

    def refusal(status: int, detail: str) -> dict[str, Any]:
        return {
            "status": status,
            # A server spells a name one way in all its answers.
            "headers": [*ambient, body_headers[0], {"name": body_headers[1]["name"], "exact": "application/json"}],
            "body": {"exact": json.dumps({"detail": detail})},
        }

    record = builtin_record()
    record.update(
        tool="made up by test_answer_shape",
        audio={**record["audio"], "sample_rate": rate, "sample_rate_source": "made up"},
        success={"status": 200, "headers": success, "body": {"framing": "pcm"}},
        wrong_token=refusal(rng.choice([401, 403, 400]), rng.choice(["Invalid token", "Forbidden", "nope"])),
        missing_token=refusal(rng.choice([401, 403, 422]), rng.choice(["Missing token", "Field required"])),
    )
    return record


def raw_head(url: str, token: str | None, text: str = "Raw head.") -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, the header lines exactly as sent, and the body (no client library between)."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"text": text}).encode()
    token_line = f"{c.TOKEN_HEADER}: {token}\r\n" if token is not None else ""
    request = (
        f"POST {c.TTS_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{token_line}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    return lines[0], headers, payload  # type: ignore[return-value]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_shim_answers_like_a_panda_it_never_saw(seed: int, tmp_path: Path) -> None:
    record = made_up_record(seed)
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(record))
    shim = start_shim(tmp_path, shim_env(SHIM_CONTRACT_FILE=str(path)), wait_for="/ready")
    try:
        assert contract_spec.check(record, shim.url, TOKEN) == []
        status, headers, payload = raw_head(shim.url, TOKEN)
        # The wire itself, without the check's own reading: names, spelling, order; the recorded rate.
        recorded = [h["name"] for h in record["success"]["headers"]]
        assert status == "HTTP/1.1 200 OK"
        assert [name for name, _ in headers if name.lower() != "connection"] == recorded
        values = dict(headers)
        frames = len(payload) // 2
        style = next(h for h in record["success"]["headers"] if h.get("format") == "seconds")
        assert values[style["name"]] == contract_spec.render_seconds(
            style["styles"][0], frames, record["audio"]["sample_rate"]
        )
        # A model answer is 0.4 s or more: at the recorded rate it has that many frames.
        assert frames >= 0.4 * record["audio"]["sample_rate"]
        for case, token in (("wrong_token", "wrong"), ("missing_token", None)):
            status, headers, payload = raw_head(shim.url, token)
            assert status.split(" ")[1] == str(record[case]["status"])
            assert payload == record[case]["body"]["exact"].encode()
            assert [n for n, _ in headers if n.lower() != "connection"] == [h["name"] for h in record[case]["headers"]]
    finally:
        stop_shim(shim)


def _refused_start(tmp_path: Path, record: dict[str, Any]) -> str:
    import subprocess
    import sys

    path = tmp_path / "contract.json"
    path.write_text(json.dumps(record))
    env = shim_env(SHIM_CONTRACT_FILE=str(path), SHIM_PORT="1")
    done = subprocess.run(
        [sys.executable, "-m", "chatterbox_shim.cli.serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    return done.stderr


def test_records_it_cannot_honour_stop_the_start(tmp_path: Path) -> None:
    stereo = copy.deepcopy(builtin_record())
    stereo["audio"]["channels"] = 2
    assert "2 channels" in _refused_start(tmp_path, stereo)

    no_rate = copy.deepcopy(builtin_record())
    no_rate["audio"]["sample_rate"] = None
    assert "sample rate" in _refused_start(tmp_path, no_rate)

    request_id = copy.deepcopy(builtin_record())
    request_id["success"]["headers"].insert(2, {"name": "x-request-id", "format": "uuid", "example": "0f8f..."})
    assert "x-request-id" in _refused_start(tmp_path, request_id)

    chunked = copy.deepcopy(builtin_record())
    chunked["success"]["headers"] = [h for h in chunked["success"]["headers"] if h["name"] != "content-length"]
    assert "Content-Length" in _refused_start(tmp_path, chunked)

    old = {"format": 1, "success": {}}
    assert "record it again" in _refused_start(tmp_path, old)


def test_a_record_learned_from_one_answer_per_duration_style_is_honest() -> None:
    """Durations that fit several styles keep all of them: the check accepts any, the shim renders the first."""
    exchanges = [
        contract_spec.Exchange(200, "OK", [("x-sample-rate", "16000"), ("x-audio-duration", v)], b"\0" * n, 0.0)
        for v, n in (("1.925", 61600), ("0.5", 16000))
    ]
    audio = contract_spec.learn_audio(exchanges)
    specs = contract_spec.learn_headers(exchanges, audio)
    duration = specs[1]
    assert duration["format"] == "seconds"
    assert "fixed:3" not in duration["styles"]  # "0.5" has one decimal
    assert duration["styles"][0] == "round:3"
    assert contract_spec.fits(duration, "1.9250625", b"\0" * 61602, audio) is True  # repr fits too
