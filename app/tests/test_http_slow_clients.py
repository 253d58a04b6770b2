"""Slow, stalled and non-reading callers are cut off without tying up the inference worker."""

from __future__ import annotations

import socket
import time

import httpx

from chatterbox_panda_kit import contract as c

from .conftest import TOKEN


def _connect(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(30)
    if data:
        sock.sendall(data)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    started = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def _head(body_length: int) -> bytes:
    return (
        f"POST {c.TTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{c.TOKEN_HEADER}: {TOKEN}\r\nContent-Length: {body_length}\r\n\r\n"
    ).encode()


def test_stalled_callers_are_cut_off_while_others_are_served(shim_factory):
    shim = shim_factory(SHIM_HEAD_TIMEOUT_SECONDS="2", SHIM_BODY_TIMEOUT_SECONDS="3", SHIM_QUEUE_DEPTH="1")
    port = int(shim.url.rsplit(":", 1)[1])
    syntheses_before = shim.metric("tts_synthesis_seconds_count")
    idle = [_connect(port, b"") for _ in range(10)]
    half_heads = [_connect(port, f"POST {c.TTS_PATH} HTTP/1.1\r\nHost: x\r\n".encode()) for _ in range(10)]
    half_bodies = [_connect(port, _head(100) + b'{"text": "half') for _ in range(5)]

    # The stalled callers hold nothing the worker needs: a real caller is answered at once.
    started = time.monotonic()
    answer = shim.post({"text": "I am a real caller."}, token=TOKEN)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1.0

    for sock in idle + half_heads:
        received, waited = _read_until_closed(sock)
        assert received == b""  # closed without an answer: the caller never sent a request
        assert waited < 4.0
    for sock in half_bodies:
        received, waited = _read_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 408 ")
        assert b"connection: close" in received.lower()
        assert b"request body not received within 3 s" in received
        assert waited < 5.0
    assert shim.metric("tts_client_timeouts_total") == 5
    assert shim.metric("tts_synthesis_seconds_count") == syntheses_before + 1
    assert shim.log_text().count("closed a connection whose request head did not arrive in time") == 20
    assert shim.post({"text": "Still here."}, token=TOKEN).status_code == 200


def test_a_trickling_body_is_cut_off_at_the_deadline(shim_factory):
    shim = shim_factory(SHIM_BODY_TIMEOUT_SECONDS="2")
    port = int(shim.url.rsplit(":", 1)[1])
    body = b'{"text": "' + b"a" * 40 + b'"}'
    sock = _connect(port, _head(len(body)))
    started = time.monotonic()
    for byte in body:  # one byte every 0.1 s would need 5.2 s
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.1)
        if time.monotonic() - started > 3:
            break
    received, _ = _read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3.5


def test_a_caller_that_never_reads_its_audio_does_not_hold_the_worker(shim_factory):
    shim = shim_factory(SHIM_QUEUE_DEPTH="1")
    port = int(shim.url.rsplit(":", 1)[1])
    body = b'{"text": "' + b"long answer " * 60 + b'"}'  # about 40 s of audio, 1.9 MB of PCM
    non_readers = []
    for _ in range(3):
        sock = socket.socket()
        # A tiny receive window, so the server's writes back up instead of landing in our buffer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(_head(len(body)) + body)
        non_readers.append(sock)
    time.sleep(2.0)
    started = time.monotonic()
    for i in range(3):
        assert shim.post({"text": f"Caller {i} is listening."}, token=TOKEN).status_code == 200
    assert time.monotonic() - started < 2.0
    assert httpx.get(shim.url + c.HEALTH_PATH).json()["queue_depth"] == 0
    for sock in non_readers:
        sock.close()
