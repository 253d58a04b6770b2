"""One TTS request over plain http.client, keeping what higher-level clients normalise away:
the response headers in the order the server sent them, with their original spelling."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import contract as c

TOKEN_VARIABLE = "CHATTERBOX_TOKEN"


class ExchangeError(RuntimeError):
    """The endpoint could not be reached or the URL is unusable."""


@dataclass(frozen=True)
class Exchange:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    latency_s: float

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


def tts_endpoint(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(c.TTS_PATH) else base + c.TTS_PATH


def post_tts(url: str, token: str | None, payload: dict[str, Any] | bytes, *, timeout: float = 120.0) -> Exchange:
    """POST to the TTS endpoint as the phone daemon does (JSON body, token header)."""
    parts = urllib.parse.urlsplit(tts_endpoint(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ExchangeError(f"{url!r} is not an http(s) URL")
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=timeout)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[c.TOKEN_HEADER] = token
    started = time.perf_counter()
    try:
        connection.request("POST", parts.path or c.TTS_PATH, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except OSError as error:
        raise ExchangeError(f"{parts.scheme}://{parts.netloc}: {error}") from error
    finally:
        connection.close()
    return Exchange(response.status, response.reason, list(response.getheaders()), data, time.perf_counter() - started)


def read_token(token_file: Path | None) -> str:
    """The token from a file (preferred: never on a command line) or CHATTERBOX_TOKEN."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ExchangeError(f"cannot read the token file {token_file}: {error.strerror}") from error
    else:
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ExchangeError(f"no token: pass --token-file or set {TOKEN_VARIABLE}")
    return token


def write_wav(path: Path, pcm: bytes) -> None:
    """The raw body as a WAV file (the contract's format: 24 kHz mono s16le)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(c.CHANNELS)
        out.setsampwidth(c.SAMPLE_WIDTH_BYTES)
        out.setframerate(c.SAMPLE_RATE)
        out.writeframes(pcm)
