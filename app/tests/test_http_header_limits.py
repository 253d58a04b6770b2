"""Too many request headers, or too many header bytes, get 431 and a closed connection before the
app sees the request; a request inside the limits on the same server is still served."""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatterbox_panda_kit import contract as c

from .conftest import TOKEN

BODY = json.dumps({"text": "Inside the limits."}).encode()
MAX_COUNT, MAX_BYTES = 40, 4096
TOKEN_NAME = c.TOKEN_HEADER.lower()  # a random name must not be a second token header (401)


def _exchange(port: int, extra_headers: list[tuple[str, str]]) -> bytes:
    head = [
        f"POST {c.TTS_PATH} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"{c.TOKEN_HEADER}: {TOKEN}",
        f"Content-Length: {len(BODY)}",
        *(f"{name}: {value}" for name, value in extra_headers),
    ]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(30)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + BODY)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if received.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in received:
                head_end = received.index(b"\r\n\r\n") + 4
                length = int(next(v for k, v in _headers(received[:head_end]) if k == "content-length"))
                if len(received) >= head_end + length:
                    break
    return received


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines if line)]


@pytest.fixture(scope="module")
def limited_shim(tmp_path_factory: pytest.TempPathFactory):
    from .conftest import shim_env, start_shim, stop_shim

    env = shim_env(SHIM_MAX_HEADER_COUNT=str(MAX_COUNT), SHIM_MAX_HEADER_BYTES=str(MAX_BYTES))
    shim = start_shim(tmp_path_factory.mktemp("limits"), env, wait_for="/ready")
    yield shim
    stop_shim(shim)


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("too many headers", [(f"X-Filler-{i}", "1") for i in range(50)]),
        ("one huge header", [("X-Filler", "a" * 8000)]),
        ("many medium headers", [(f"X-Filler-{i}", "b" * 200) for i in range(30)]),
    ],
)
def test_headers_over_the_limits_get_431_and_a_closed_connection(limited_shim, case: str, extra) -> None:
    answer = _exchange(_port(limited_shim), extra)
    assert answer.startswith(b"HTTP/1.1 431 "), (case, answer[:200])
    assert answer.endswith(b"Request header fields too large"), case
    log = limited_shim.log_text()
    assert '"msg": "refused a request whose headers are over the limits"' in log
    assert TOKEN not in log


def test_a_request_inside_the_limits_is_served(limited_shim) -> None:
    answer = _exchange(_port(limited_shim), [(f"X-Filler-{i}", "c" * 50) for i in range(30)])
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    head_end = answer.index(b"\r\n\r\n") + 4
    headers = dict(_headers(answer[:head_end]))
    assert len(answer) - head_end == int(headers["content-length"]) > 0


def _port(shim) -> int:
    return int(shim.url.rsplit(":", 1)[1])


def _base_headers() -> list[tuple[str, str]]:
    return [
        ("Host", "127.0.0.1"),
        ("Content-Type", "application/json"),
        (c.TOKEN_HEADER, TOKEN),
        ("Content-Length", str(len(BODY))),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    extra=st.lists(
        st.tuples(
            st.from_regex(r"X-[A-Za-z0-9-]{1,30}", fullmatch=True).filter(lambda n: n.lower() != TOKEN_NAME),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=600),
        ),
        max_size=70,
    )
)
def test_fuzzed_heads_are_431_exactly_past_the_limits_and_served_below(limited_shim, extra) -> None:
    """Random header counts and sizes on both sides of the limits: past either one 431 and a
    closed connection, inside both an answer from the app (never a 5xx, never a hang)."""
    lines = _base_headers() + extra
    over = len(lines) > MAX_COUNT or sum(len(n) + len(v) + 4 for n, v in lines) > MAX_BYTES
    answer = _exchange(_port(limited_shim), extra)
    status = int(answer.split(b" ", 2)[1])
    if over:
        assert status == 431, answer[:200]
    else:
        assert status == 200, answer[:300]
