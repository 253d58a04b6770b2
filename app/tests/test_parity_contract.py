"""The contract tool against a real lab shim over HTTP: a capture of the shim passes against the
shim, and a proxy that alters one header (value, spelling, order) is reported."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatterbox_panda_kit import contract_spec
from chatterbox_tools.cli.parity import main as parity

from .conftest import TOKEN, RunningShim

HeaderRewrite = Callable[[list[tuple[str, str]]], list[tuple[str, str]]]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def record(lab_shim: RunningShim, token_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "contract.json"
    args = ["contract", "record", "--url", lab_shim.url, "--out", str(out), "--token-file", str(token_file)]
    assert parity(args) == 0
    return out


def altering_proxy(upstream: str, rewrite: HeaderRewrite) -> Iterator[str]:
    """A loopback HTTP proxy in front of the shim that passes everything through except the
    response headers, which `rewrite` gets to change (deliberately, for the test)."""
    target = urllib.parse.urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            connection.request("POST", self.path, body=body, headers=dict(self.headers.items()))
            answer = connection.getresponse()
            payload = answer.read()
            self.send_response_only(answer.status, answer.reason)
            for name, value in rewrite(list(answer.getheaders())):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            connection.close()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def check_through(record: Path, upstream: str, token_file: Path, rewrite: HeaderRewrite) -> list[str]:
    recorded = json.loads(record.read_text())
    for url in altering_proxy(upstream, rewrite):
        return [str(d) for d in contract_spec.check(recorded, url, TOKEN)]
    raise AssertionError("unreachable")


def test_record_describes_the_exact_answer(record: Path) -> None:
    data = json.loads(record.read_text())
    success = {h["name"]: h for h in data["success"]["headers"]}
    assert data["success"]["status"] == 200
    assert success["x-audio-duration"] == {"name": "x-audio-duration", "format": "seconds", "styles": ["fixed:3"]}
    assert success["x-sample-rate"]["exact"] == "24000"
    assert success["x-format"]["exact"] == "pcm_s16le"
    assert success["content-type"]["exact"] == "application/octet-stream"
    assert success["content-length"]["format"] == "body-length"
    assert success["date"]["format"] == "http-date"
    names = [h["name"] for h in data["success"]["headers"]]
    assert names.index("x-audio-duration") < names.index("x-sample-rate") < names.index("x-channels")
    assert data["audio"]["sample_rate"] == 24000
    assert data["audio"]["sample_rate_source"] == "header X-Sample-Rate"
    assert data["wrong_token"]["status"] == 401
    assert data["wrong_token"]["body"] == {"exact": '{"detail":"invalid X-Internal-Token"}'}
    assert data["missing_token"]["body"] == {"exact": '{"detail":"missing X-Internal-Token"}'}
    assert TOKEN not in record.read_text()


def test_the_shim_passes_against_a_capture_of_itself(lab_shim: RunningShim, record: Path, token_file: Path) -> None:
    args = ["contract", "check", "--url", lab_shim.url, "--record", str(record), "--token-file", str(token_file)]
    assert parity(args) == 0


def test_a_passthrough_proxy_changes_nothing(lab_shim: RunningShim, record: Path, token_file: Path) -> None:
    # The control for the altered cases below: the proxy itself must not be what gets reported.
    def keep_uvicorn_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return headers

    found = check_through(record, lab_shim.url, token_file, keep_uvicorn_headers)
    # http.server adds its own Server and Date only through send_response, which the proxy skips.
    assert found == []


def test_an_altered_header_value_is_reported(lab_shim: RunningShim, record: Path, token_file: Path) -> None:
    def wrong_format(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(n, "pcm_f32le" if n.lower() == "x-format" else v) for n, v in headers]

    found = check_through(record, lab_shim.url, token_file, wrong_format)
    assert any("x-format value" in d and "pcm_f32le" in d for d in found), found


def test_a_respelled_header_and_an_extra_header_are_reported(
    lab_shim: RunningShim, record: Path, token_file: Path
) -> None:
    def respell(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        changed = [("X-Sample-Rate" if n.lower() == "x-sample-rate" else n, v) for n, v in headers]
        return [*changed, ("X-Powered-By", "proxy")]

    found = check_through(record, lab_shim.url, token_file, respell)
    assert any("spelled 'X-Sample-Rate'" in d for d in found), found
    assert any("X-Powered-By" in d and "absent" in d for d in found), found


def test_reordered_headers_are_reported(lab_shim: RunningShim, record: Path, token_file: Path) -> None:
    def swap(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        names = [n.lower() for n, _ in headers]
        if "x-channels" not in names:
            return headers
        i, j = names.index("x-sample-rate"), names.index("x-channels")
        headers[i], headers[j] = headers[j], headers[i]
        return headers

    found = check_through(record, lab_shim.url, token_file, swap)
    assert any("header order" in d for d in found), found


def test_an_altered_record_is_reported_by_the_cli(
    lab_shim: RunningShim, record: Path, token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(record.read_text())
    for header in data["success"]["headers"]:
        if header["name"] == "x-channels":
            header["exact"] = "2"
    data["wrong_token"]["body"]["exact"] = '{"detail":"something else"}'
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(data))
    report = tmp_path / "diff.json"
    args = ["contract", "check", "--url", lab_shim.url, "--record", str(altered), "--token-file", str(token_file)]
    assert parity([*args, "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "x-channels value" in out
    assert "[wrong token] body" in out
    assert len(json.loads(report.read_text())["differences"]) == 2


def test_unreachable_endpoint_and_missing_token_are_usage_errors(
    record: Path, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    assert parity(["contract", "check", "--url", dead, "--record", str(record), "--token-file", str(token_file)]) == 2
    monkeypatch.delenv("CHATTERBOX_TOKEN", raising=False)
    assert parity(["contract", "check", "--url", dead, "--record", str(record)]) == 2
