"""Capture an endpoint's output for the benchmark sentences: the raw bodies, WAV copies and every
response header, in a dated folder. Written under a .partial name and renamed when complete, so a
failed capture never looks like a baseline."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit.exchange import post_tts, write_wav

MANIFEST = "baseline.json"


class BaselineError(RuntimeError):
    pass


def capture_baseline(
    url: str,
    token: str,
    sentences: list[str],
    out_root: Path,
    *,
    voice: str | None = None,
    seed: int | None = None,
    prefix: str = "chatterbox",
    timeout: float = 300.0,
    stamp: str | None = None,
) -> Path:
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    final = out_root / stamp
    if final.exists():
        raise BaselineError(f"{final} already exists")
    partial = out_root / f"{stamp}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    utterances: list[dict[str, Any]] = []
    try:
        for index, text in enumerate(sentences):
            payload: dict[str, Any] = {"text": text}
            if voice:
                payload["voice"] = voice
            if seed is not None:
                payload["seed"] = seed + index
            exchange = post_tts(url, token, payload, timeout=timeout)
            if exchange.status != 200:
                detail = exchange.body[:200].decode("utf-8", errors="replace")
                raise BaselineError(f"sentence {index}: HTTP {exchange.status} {detail}")
            stem = f"{prefix}_{index:02d}"
            (partial / f"{stem}.pcm").write_bytes(exchange.body)
            write_wav(partial / f"{stem}.wav", exchange.body)
            utterances.append(
                {
                    "index": index,
                    "text": text,
                    "pcm": f"{stem}.pcm",
                    "wav": f"{stem}.wav",
                    "sha256": hashlib.sha256(exchange.body).hexdigest(),
                    "audio_s": len(exchange.body) / c.SAMPLE_WIDTH_BYTES / c.SAMPLE_RATE,
                    "latency_s": exchange.latency_s,
                    "status": exchange.status,
                    "headers": [[name, value] for name, value in exchange.headers],
                }
            )
        parts = urllib.parse.urlsplit(url)
        manifest = {
            "tool": "chatterbox-parity baseline",
            "captured_from": f"{parts.scheme}://{parts.netloc}{c.TTS_PATH}",
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "voice": voice,
            "seed": seed,
            "utterances": utterances,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(final)
    return final
