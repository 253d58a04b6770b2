"""Readiness, queueing and disconnects over real HTTP (lab engine with simulated model time)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from chatterbox_panda_kit import contract as c

from .conftest import TOKEN
from .test_http_contract import expected_pcm


def test_not_ready_until_loaded_and_warmed(shim_factory):
    shim = shim_factory(wait_for="/health", SHIM_LAB_LOAD_SECONDS="3")
    health = httpx.get(shim.url + c.HEALTH_PATH)
    assert health.status_code == 200
    assert health.json()["ready"] is False
    ready = httpx.get(shim.url + c.READY_PATH)
    assert ready.status_code == 503
    assert ready.headers[c.HEADER_RETRY_AFTER] == "2"
    tts = shim.post({"text": "too early"}, token=TOKEN)
    assert tts.status_code == 503
    assert tts.headers[c.HEADER_RETRY_AFTER] == "2"
    deadline = time.monotonic() + 30
    while httpx.get(shim.url + c.READY_PATH).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert shim.post({"text": "now ready"}, token=TOKEN).status_code == 200


def test_health_answers_during_a_long_synthesis(shim_factory):
    # 2 s of simulated model time per second of audio: a 3 s utterance keeps the worker 6 s busy.
    shim = shim_factory(SHIM_LAB_RTF="2")

    async def scenario() -> list[float]:
        async with httpx.AsyncClient(timeout=60) as client:
            long_request = asyncio.create_task(
                client.post(shim.url + c.TTS_PATH, json={"text": "x" * 50}, headers={c.TOKEN_HEADER: TOKEN})
            )
            await asyncio.sleep(0.5)
            latencies = []
            for _ in range(5):
                started = time.perf_counter()
                assert (await client.get(shim.url + c.HEALTH_PATH)).status_code == 200
                latencies.append(time.perf_counter() - started)
            assert not long_request.done()
            assert (await long_request).status_code == 200
            return latencies

    assert max(asyncio.run(scenario())) < 0.5


def test_overload_gets_503_and_no_mixed_audio(shim_factory):
    shim = shim_factory(SHIM_LAB_RTF="0.5", SHIM_QUEUE_DEPTH="2")
    requests = [{"text": f"Caller number {i} asks a question.", "seed": i} for i in range(10)]

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(client.post(shim.url + c.TTS_PATH, json=r, headers={c.TOKEN_HEADER: TOKEN}) for r in requests)
            )

    responses = asyncio.run(scenario())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) >= 1
    assert statuses.count(503) >= 1
    for request, response in zip(requests, responses, strict=True):
        if response.status_code == 200:
            assert response.content == expected_pcm(request["text"], seed=request["seed"])
        else:
            assert response.headers[c.HEADER_RETRY_AFTER] == "2"
            assert "queue is full" in response.json()["detail"]


def _raw_post(port: int, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {c.TTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{c.TOKEN_HEADER}: {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body)
    return sock


def test_client_that_leaves_the_queue_costs_no_synthesis(shim_factory):
    shim = shim_factory(SHIM_LAB_RTF="2")
    port = int(shim.url.rsplit(":", 1)[1])
    before = shim.metric("tts_synthesis_seconds_count")
    busy = _raw_post(port, b'{"text": "' + b"x" * 40 + b'"}')  # about 5 s of work
    time.sleep(0.5)
    leaver = _raw_post(port, b'{"text": "I will hang up"}')
    time.sleep(0.5)
    assert shim.metric("tts_queue_depth") == 1
    leaver.close()
    response = busy.recv(65536)
    while b"\r\n\r\n" not in response:
        response += busy.recv(65536)
    busy.close()
    assert response.startswith(b"HTTP/1.1 200")
    time.sleep(1.0)
    assert shim.metric("tts_synthesis_seconds_count") == before + 1
    assert shim.metric("tts_abandoned_total") == 1
    assert shim.metric("tts_queue_depth") == 0
    assert "skipped a job whose caller left" in shim.log_text()
