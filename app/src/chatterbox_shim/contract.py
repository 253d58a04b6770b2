"""Panda's TTS HTTP contract: every path, header name and audio format lives here.

The phone daemon cannot tell the shim from Panda's server, so nothing in this module may change
without the same change on Panda. docs/CONTRACT.md documents each name.
"""

from __future__ import annotations

from typing import Final

TTS_PATH: Final = "/v1/tts"
HEALTH_PATH: Final = "/health"
READY_PATH: Final = "/ready"
METRICS_PATH: Final = "/metrics"

TOKEN_HEADER: Final = "X-Internal-Token"

SAMPLE_RATE: Final = 24_000
CHANNELS: Final = 1
SAMPLE_WIDTH_BYTES: Final = 2
PCM_FORMAT: Final = "pcm_s16le"
PCM_CONTENT_TYPE: Final = "application/octet-stream"
INT16_SCALE: Final = 32767

HEADER_CONTENT_TYPE: Final = "Content-Type"
HEADER_AUDIO_DURATION: Final = "X-Audio-Duration"
HEADER_SAMPLE_RATE: Final = "X-Sample-Rate"
HEADER_CHANNELS: Final = "X-Channels"
HEADER_FORMAT: Final = "X-Format"
HEADER_RETRY_AFTER: Final = "Retry-After"

# Panda builds its answer as FastAPI's Response(content, media_type, headers=...): the audio
# headers come first in this order, then the server appends Content-Length and Content-Type.
AUDIO_HEADERS_IN_ORDER: Final = (
    HEADER_AUDIO_DURATION,
    HEADER_SAMPLE_RATE,
    HEADER_CHANNELS,
    HEADER_FORMAT,
)

DEFAULT_VOICE: Final = "samantha_evolving"

# Request parameter defaults and bounds (Chatterbox 0.1.7 generate() defaults; the bounds are the
# ranges its own demo exposes). cfg_weight 0 crashes 0.1.7's T3.inference (the BOS embedding is
# always duplicated for CFG), so the lower bound is exclusive.
EXAGGERATION_DEFAULT: Final = 0.5
EXAGGERATION_MIN: Final = 0.25
EXAGGERATION_MAX: Final = 2.0
CFG_WEIGHT_DEFAULT: Final = 0.5
CFG_WEIGHT_MIN_EXCLUSIVE: Final = 0.0
CFG_WEIGHT_MAX: Final = 1.0
TEMPERATURE_DEFAULT: Final = 0.8
TEMPERATURE_MIN: Final = 0.05
TEMPERATURE_MAX: Final = 5.0
SEED_MAX: Final = 2**32 - 1


def format_duration(samples: int) -> str:
    """X-Audio-Duration: seconds with three decimals, samples / SAMPLE_RATE rounded."""
    return f"{samples / SAMPLE_RATE:.3f}"


def audio_headers(samples: int) -> dict[str, str]:
    """The X- headers of a successful synthesis, in Panda's order."""
    return {
        HEADER_AUDIO_DURATION: format_duration(samples),
        HEADER_SAMPLE_RATE: str(SAMPLE_RATE),
        HEADER_CHANNELS: str(CHANNELS),
        HEADER_FORMAT: PCM_FORMAT,
    }
