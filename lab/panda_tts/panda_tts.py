"""A stand-in for Panda's chatterbox_server.py in the local lab (not production code).

We have never seen Panda's server. This is written the way a small FastAPI TTS server plausibly
is, independently of the shim: it imports nothing from chatterbox_shim, so a test that passes
against it proves the shim learned Panda's answers rather than agreeing with itself. Its audio is a
plain harmonic buzz with a syllable envelope (not speech), at the configured sample rate.

Each variant is a few environment variables (the lab's Panda variants, tests/lab_variants.py):
  PANDA_SAMPLE_RATE          24000 | 16000 | ...
  PANDA_HEADER_ORDER         comma-separated: duration,rate,channels,format (any order, any subset)
  PANDA_DURATION_STYLE       round2 | fixed3 | fixed2 | repr
  PANDA_FORMAT_LABEL         value of X-Format (pcm_s16le, s16le, ...)
  PANDA_MEDIA_TYPE           the Content-Type of the audio (application/octet-stream, audio/pcm, ...)
  PANDA_WRONG_TOKEN_STATUS   401 | 403
  PANDA_WRONG_TOKEN_DETAIL   the detail of that answer
  PANDA_TOKEN_AS_HEADER_PARAM  1: the token is a required FastAPI Header parameter (a missing one
                               is FastAPI's own 422); 0: read by hand (a missing one is refused
                               like a wrong one)
  CHATTERBOX_TOKEN_FILE / CHATTERBOX_TOKEN   the shared secret
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel

SAMPLE_RATE = int(os.environ.get("PANDA_SAMPLE_RATE", "24000"))
HEADER_ORDER = [n for n in os.environ.get("PANDA_HEADER_ORDER", "duration,rate,channels,format").split(",") if n]
DURATION_STYLE = os.environ.get("PANDA_DURATION_STYLE", "round2")
FORMAT_LABEL = os.environ.get("PANDA_FORMAT_LABEL", "pcm_s16le")
MEDIA_TYPE = os.environ.get("PANDA_MEDIA_TYPE", "application/octet-stream")
WRONG_TOKEN_STATUS = int(os.environ.get("PANDA_WRONG_TOKEN_STATUS", "401"))
WRONG_TOKEN_DETAIL = os.environ.get("PANDA_WRONG_TOKEN_DETAIL", "Invalid token")
TOKEN_AS_HEADER_PARAM = os.environ.get("PANDA_TOKEN_AS_HEADER_PARAM", "1") == "1"


def _token() -> str:
    path = os.environ.get("CHATTERBOX_TOKEN_FILE")
    return Path(path).read_text().strip() if path else os.environ["CHATTERBOX_TOKEN"]


TOKEN = _token()
app = FastAPI(title="Chatterbox TTS (lab stand-in for Panda)")


class TTSRequest(BaseModel):
    text: str
    voice: str | None = None
    exaggeration: float = 0.5
    cfg_weight: float = 0.5
    temperature: float = 0.8
    seed: int | None = None


def _duration(seconds: float) -> str:
    if DURATION_STYLE == "round2":
        return str(round(seconds, 2))
    if DURATION_STYLE.startswith("fixed"):
        return f"{seconds:.{int(DURATION_STYLE[5:])}f}"
    return str(seconds)


def speak(text: str, voice: str | None) -> bytes:
    """A deterministic buzz, 55 ms per character, 110-200 Hz by voice."""
    seed = int.from_bytes(hashlib.sha256(f"{voice}|{text}".encode()).digest()[:4], "big")
    seconds = max(0.5, min(30.0, 0.055 * len(text)))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 110 + seed % 90
    wave = sum(np.sin(2 * math.pi * pitch * k * t) / k for k in range(1, 8) if pitch * k < SAMPLE_RATE / 2)
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 3.5 * t) ** 2
    audio = 0.25 * wave * envelope / np.max(np.abs(wave))
    return (audio * 32767).astype("<i2").tobytes()


def _answer(req: TTSRequest) -> Response:
    pcm = speak(req.text, req.voice)
    values = {
        "duration": ("X-Audio-Duration", _duration(len(pcm) / 2 / SAMPLE_RATE)),
        "rate": ("X-Sample-Rate", str(SAMPLE_RATE)),
        "channels": ("X-Channels", "1"),
        "format": ("X-Format", FORMAT_LABEL),
    }
    headers = dict(values[name] for name in HEADER_ORDER)
    return Response(content=pcm, media_type=MEDIA_TYPE, headers=headers)


def _refuse() -> None:
    raise HTTPException(status_code=WRONG_TOKEN_STATUS, detail=WRONG_TOKEN_DETAIL)


if TOKEN_AS_HEADER_PARAM:

    @app.post("/v1/tts")
    async def tts(req: TTSRequest, x_internal_token: str = Header(...)) -> Response:
        if x_internal_token != TOKEN:
            _refuse()
        return _answer(req)

else:

    @app.post("/v1/tts")
    async def tts_checked_by_hand(req: TTSRequest, request: Request) -> Response:
        if request.headers.get("x-internal-token") != TOKEN:
            _refuse()
        return _answer(req)


@app.get("/health")
async def health() -> dict[str, object]:
    return {"status": "ok", "model_loaded": True, "sample_rate": SAMPLE_RATE}
