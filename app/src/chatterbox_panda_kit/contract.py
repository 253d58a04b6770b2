"""Panda's TTS HTTP contract as the research note names it: the path, the token header, the
audio headers' names; and the shim's built-in defaults for what the note does not say.

The values here (24 kHz, pcm_s16le, application/octet-stream, the header order) are defaults, not
facts about Panda: a contract record learned from the live Panda overrides every one of them
(answer_shape.py, SHIM_CONTRACT_FILE), and no gate holds Panda to them (probe.py).
Standard library only: it runs on Panda. docs/CONTRACT.md documents each name.
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

DEFAULT_VOICE: Final = "samantha_evolving"

# Request parameter defaults and the ranges a value is clamped into (Chatterbox 0.1.7 generate()
# defaults; the ranges its own demo exposes). cfg_weight 0 crashes 0.1.7's T3.inference (the BOS
# embedding is always duplicated for CFG), so its floor is above 0.
EXAGGERATION_DEFAULT: Final = 0.5
EXAGGERATION_MIN: Final = 0.25
EXAGGERATION_MAX: Final = 2.0
CFG_WEIGHT_DEFAULT: Final = 0.5
CFG_WEIGHT_MIN: Final = 0.01
CFG_WEIGHT_MAX: Final = 1.0
TEMPERATURE_DEFAULT: Final = 0.8
TEMPERATURE_MIN: Final = 0.05
TEMPERATURE_MAX: Final = 5.0
SEED_MAX: Final = 2**32 - 1
