"""tts-probe against the real shim and against a deliberately broken server (stdlib http.server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatterbox_panda_kit.probe import main as probe_main
from chatterbox_panda_kit.probe import probe, read_env_file, tts_url

from .conftest import TOKEN

GOOD_HEADERS = {
    "X-Audio-Duration": "0.500",
    "X-Sample-Rate": "24000",
    "X-Channels": "1",
    "X-Format": "pcm_s16le",
    "Content-Type": "application/octet-stream",
}
TONE = (b"\x00\x20\x00\xe0") * 6000  # 12000 samples of +/-8192


def _server(status: int, headers: dict[str, str], body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def broken(request) -> Iterator[str]:
    yield from _server(*request.param)


def test_passes_against_the_shim(lab_shim):
    result = probe(lab_shim.url, TOKEN)
    assert result.ok, result
    assert result.audio_s > 1.0
    assert [name for name, passed, _ in result.checks if passed][-1] == "non-silent"


def test_wrong_token_fails_on_401(lab_shim):
    result = probe(lab_shim.url, "nope")
    assert not result.ok
    assert result.failed_check == "status"
    assert "401 (token rejected)" in result.detail


def test_unreachable():
    result = probe("http://127.0.0.1:1", TOKEN, timeout=2)
    assert result.failed_check == "reachable"


@pytest.mark.parametrize(
    ("broken", "failed_check"),
    [
        ((200, GOOD_HEADERS, TONE), None),
        ((200, GOOD_HEADERS, b"\x00\x00" * 12000), "non-silent"),
        ((200, {**GOOD_HEADERS, "X-Audio-Duration": "0.600"}, TONE), "duration"),
        ((200, {**GOOD_HEADERS, "X-Sample-Rate": "16000"}, TONE), "duration"),
        ((200, {**GOOD_HEADERS, "X-Audio-Duration": "half a second"}, TONE), "duration"),
        ((200, GOOD_HEADERS, TONE + b"\x01"), "framing"),
        ((200, GOOD_HEADERS, b""), "samples"),
        ((503, {"Content-Type": "application/json"}, b'{"detail": "busy"}'), "status"),
        ((403, {"Content-Type": "application/json"}, b'{"detail": "Forbidden"}'), "status"),
        # Values we once guessed for Panda are not held against an endpoint without a record.
        ((200, {**GOOD_HEADERS, "Content-Type": "audio/pcm", "X-Format": "s16le"}, TONE), None),
        ((200, {**GOOD_HEADERS, "X-Audio-Duration": "0.5"}, TONE), None),
        ((201, {"X-Audio-Duration": "0.75", "X-Sample-Rate": "16000"}, TONE), None),
        ((200, {}, TONE), None),
    ],
    indirect=["broken"],
)
def test_without_a_record_only_what_any_panda_must_do_is_checked(broken, failed_check):
    result = probe(broken, TOKEN)
    assert result.failed_check == failed_check, result


@pytest.mark.parametrize("broken", [(200, {**GOOD_HEADERS, "Content-Type": "audio/wav"}, TONE)], indirect=["broken"])
def test_with_a_record_every_recorded_value_is_held(broken, lab_shim, tmp_path):
    from chatterbox_panda_kit.contract_spec import capture

    record = capture(lab_shim.url, TOKEN)
    assert probe(lab_shim.url, TOKEN, record=record).ok
    strict = probe(broken, TOKEN, record=record)
    assert strict.failed_check == "contract"
    assert "content-type" in strict.detail.lower()
    # For Panda itself (the truth the record came from) a difference is reported, never a failure.
    warned = probe(broken, TOKEN, record=record, contract_mode="warn")
    assert warned.ok
    assert any("content-type" in w.lower() for w in warned.warnings)
    path = tmp_path / "contract.json"
    path.write_text(__import__("json").dumps(record))
    assert probe_main(["--url", broken, "--contract", str(path), "--token-file", str(_token_file(tmp_path))]) == 1
    args = [
        "--url",
        broken,
        "--contract",
        str(path),
        "--contract-mode",
        "warn",
        "--token-file",
        str(_token_file(tmp_path)),
    ]
    assert probe_main(args) == 0


def _token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def test_env_file_parsing(tmp_path):
    env = tmp_path / "phone.env"
    env.write_text("# comment\nexport CHATTERBOX_URL=\"http://titan:8773\"\nCHATTERBOX_TOKEN='abc=def'\nOTHER=1\n\n")
    assert read_env_file(env) == {"CHATTERBOX_URL": "http://titan:8773", "CHATTERBOX_TOKEN": "abc=def", "OTHER": "1"}
    assert tts_url("http://titan:8773/") == "http://titan:8773/v1/tts"
    assert tts_url("http://titan:8773/v1/tts") == "http://titan:8773/v1/tts"


def test_cli_reads_the_env_file(lab_shim, tmp_path, capsys):
    env = tmp_path / "phone.env"
    env.write_text(f"CHATTERBOX_URL={lab_shim.url}\nCHATTERBOX_TOKEN={TOKEN}\n")
    assert probe_main(["--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok   ") == 8
    assert TOKEN not in out
    env.write_text(f"CHATTERBOX_URL={lab_shim.url}\nCHATTERBOX_TOKEN=wrong\n")
    assert probe_main(["--env-file", str(env)]) == 1
    assert "FAILED at 'status'" in capsys.readouterr().err
    assert probe_main(["--env-file", str(tmp_path / "missing.env")]) == 2


def test_cli_token_file(lab_shim, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert probe_main(["--url", lab_shim.url, "--token-file", str(token_file)]) == 0
    assert probe_main(["--url", lab_shim.url, "--token-file", str(tmp_path / "none")]) == 2


def test_cli_reads_the_url_from_the_named_variable_and_skips_an_unrecorded_contract(lab_shim, tmp_path):
    env = tmp_path / "phone.env"
    env.write_text(f"TTS_SERVER={lab_shim.url}\nCHATTERBOX_TOKEN={TOKEN}\n")
    assert probe_main(["--env-file", str(env)]) == 2  # no CHATTERBOX_URL in it
    missing = str(tmp_path / "never-recorded.json")
    assert (
        probe_main(["--env-file", str(env), "--variable", "TTS_SERVER", "--contract", missing, "--contract-optional"])
        == 0
    )
    assert probe_main(["--env-file", str(env), "--variable", "TTS_SERVER", "--contract", missing]) == 2
