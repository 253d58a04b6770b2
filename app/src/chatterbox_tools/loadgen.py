"""Closed-loop HTTP load against /v1/tts: N callers, each sending its next request as soon as the
previous one is answered (after a short pause on a 503), every answer checked as the daemon would.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit.probe import answer_problem
from chatterbox_panda_kit.stats import percentile


@dataclass(frozen=True)
class Ask:
    text: str
    seed: int | None
    voice: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.seed is not None:
            body["seed"] = self.seed
        if self.voice is not None:
            body["voice"] = self.voice
        return body


@dataclass
class Answer:
    ask: Ask
    started: float
    seconds: float
    status: int | None  # None: the connection failed or timed out
    problem: str | None = None  # a 200 that failed a check, a 503 without Retry-After, a transport error
    pcm_sha256: str | None = None
    audio_s: float = 0.0


@dataclass
class LoadRun:
    answers: list[Answer] = field(default_factory=list)
    pcm: dict[Ask, bytes] = field(default_factory=dict)  # first accepted audio per request, for solo checks
    started: float = 0.0
    seconds: float = 0.0


def judge(ask: Ask, response: httpx.Response, started: float, seconds: float) -> Answer:
    answer = Answer(ask, started, seconds, response.status_code)
    if response.status_code == 200:
        answer.problem = answer_problem(200, response.headers, response.content)
        answer.pcm_sha256 = hashlib.sha256(response.content).hexdigest()
        answer.audio_s = len(response.content) / (c.SAMPLE_RATE * c.SAMPLE_WIDTH_BYTES)
    elif response.status_code == 503:
        if not response.headers.get(c.HEADER_RETRY_AFTER, "").isdigit():
            answer.problem = "503 without a numeric Retry-After"
    else:
        answer.problem = f"unexpected status {response.status_code}: {response.text[:200]}"
    return answer


async def run_load(
    url: str,
    token: str,
    asks: Sequence[Ask],
    *,
    clients: int,
    seconds: float,
    busy_pause: float = 0.05,
    timeout: float = 300.0,
    keep_pcm: int = 0,
) -> LoadRun:
    """Drive `clients` callers over the asks (round robin) until `seconds` have passed."""
    run = LoadRun()
    next_ask = iter(range(10**12))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {c.TOKEN_HEADER: token}
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits, headers=headers) as client:
        run.started = time.perf_counter()
        deadline = run.started + seconds

        async def caller() -> None:
            while time.perf_counter() < deadline:
                ask = asks[next(next_ask) % len(asks)]
                started = time.perf_counter()
                try:
                    response = await client.post(c.TTS_PATH, json=ask.body())
                except httpx.HTTPError as exc:
                    elapsed = time.perf_counter() - started
                    run.answers.append(Answer(ask, started, elapsed, None, f"{type(exc).__name__}: {exc}"[:200]))
                    continue
                answer = judge(ask, response, started, time.perf_counter() - started)
                run.answers.append(answer)
                if answer.status == 200 and ask not in run.pcm and len(run.pcm) < keep_pcm:
                    run.pcm[ask] = response.content
                if answer.status == 503:
                    await asyncio.sleep(busy_pause)

        await asyncio.gather(*(caller() for _ in range(clients)))
        run.seconds = time.perf_counter() - run.started
    return run


def summarize(run: LoadRun) -> dict[str, Any]:
    statuses = Counter("dropped" if a.status is None else str(a.status) for a in run.answers)
    accepted = [a for a in run.answers if a.status == 200]
    latencies = [a.seconds for a in accepted]
    problems = Counter(a.problem.split(":")[0] for a in run.answers if a.problem)
    total = len(run.answers)
    return {
        "requests": total,
        "statuses": dict(sorted(statuses.items())),
        "accepted_per_s": round(len(accepted) / run.seconds, 2) if run.seconds else 0.0,
        "audio_s_per_s": round(sum(a.audio_s for a in accepted) / run.seconds, 2) if run.seconds else 0.0,
        "accepted_p50_s": round(percentile(latencies, 50), 4) if latencies else None,
        "accepted_p99_s": round(percentile(latencies, 99), 4) if latencies else None,
        "accepted_max_s": round(max(latencies), 4) if latencies else None,
        "busy_503_share": round(statuses.get("503", 0) / total, 4) if total else 0.0,
        "invalid": sum(1 for a in run.answers if a.problem),
        "invalid_by_kind": dict(problems),
        "examples_of_invalid": [a.problem for a in run.answers if a.problem][:5],
    }


async def solo_check(url: str, token: str, run: LoadRun) -> dict[str, Any]:
    """Ask each kept request again, alone, and compare: no mixed voices or state under load."""
    identical, different = 0, []
    async with httpx.AsyncClient(base_url=url, timeout=300, headers={c.TOKEN_HEADER: token}) as client:
        for ask, loaded in run.pcm.items():
            response = await client.post(c.TTS_PATH, json=ask.body())
            if response.status_code == 200 and response.content == loaded:
                identical += 1
                continue
            different.append(
                {"ask": ask.body(), "status": response.status_code, **_pcm_difference(loaded, response.content)}
            )
    return {"checked": len(run.pcm), "identical": identical, "different": different[:10], "n_different": len(different)}


def _pcm_difference(a: bytes, b: bytes) -> dict[str, Any]:
    import numpy as np

    x, y = np.frombuffer(a, "<i2").astype(np.int32), np.frombuffer(b[: len(b) // 2 * 2], "<i2").astype(np.int32)
    if x.size != y.size:
        return {"samples": [int(x.size), int(y.size)]}
    return {"samples": int(x.size), "max_abs_diff": int(np.max(np.abs(x - y))) if x.size else 0}
