"""Prometheus metrics of the shim, on a registry of its own (no process or platform collectors
that would publish paths or versions)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# *_created series double the output and tell an operator nothing here.
disable_created_metrics()

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 40.0)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RTF_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class ShimMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("tts_requests", "TTS requests by HTTP status", ["status"], registry=r)
        self.synthesis_seconds = Histogram(
            "tts_synthesis_seconds", "Model time per successful synthesis", buckets=LATENCY_BUCKETS, registry=r
        )
        self.request_seconds = Histogram(
            "tts_request_seconds", "Wall time per TTS request, queueing included", buckets=LATENCY_BUCKETS, registry=r
        )
        self.real_time_factor = Histogram(
            "tts_real_time_factor", "Synthesis seconds per audio second", buckets=RTF_BUCKETS, registry=r
        )
        self.audio_seconds = Counter("tts_audio_seconds", "Seconds of audio returned", registry=r)
        self.queue_depth = Gauge("tts_queue_depth", "Requests waiting for the inference worker", registry=r)
        self.ready = Gauge("tts_ready", "1 when the model is loaded, voices prepared and warmed up", registry=r)
        self.invalid_audio = Counter(
            "tts_invalid_audio", "Syntheses refused because the audio was silent, empty or non-finite", registry=r
        )
        self.token_cap_hits = Counter(
            "tts_token_cap_hits", "Syntheses that reached the speech-token cap (possible runaway)", registry=r
        )
        self.abandoned = Counter("tts_abandoned", "Queued requests dropped because the caller left", registry=r)
        self.timeouts = Counter(
            "tts_client_timeouts", "Requests closed because the body did not arrive in time", registry=r
        )
        self.event_loop_lag = Histogram(
            "tts_event_loop_lag_seconds",
            "How late the HTTP event loop woke for a timer (time the loop could not answer anyone)",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "tts_refusals",
            "TTS requests answered without audio, by reason (each one is a mute utterance on the phone)",
            ["reason"],
            registry=r,
        )
        self.text_cleaned = Counter(
            "tts_text_cleaned", "Texts spoken after their control or format characters were removed", registry=r
        )
        self.clamped = Counter(
            "tts_params_clamped", "Request numbers clamped into the range the model runs in", ["param"], registry=r
        )
        self.load_seconds = Gauge("tts_model_load_seconds", "Model load and voice preparation time", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
