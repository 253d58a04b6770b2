"""The service's lifecycle: build the engine, load and warm it on the worker, answer syntheses."""

from __future__ import annotations

import enum
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from pydantic import SecretStr

from .answer_shape import AnswerShape
from .audio import InvalidAudioError, Pcm, resample, to_pcm16
from .engines.base import Engine, EngineOutput, SynthesisParams, TokenCap
from .import_ahead import import_ahead
from .metrics import ShimMetrics
from .settings import Settings
from .voices import load_allowlist
from .weights import Manifest, verify_weights
from .worker import InferenceWorker, Job, QueueFullError

log = logging.getLogger(__name__)


class State(enum.StrEnum):
    STARTING = "starting"
    LOADING = "loading"
    WARMING = "warming"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Synthesis:
    pcm: Pcm
    output: EngineOutput
    synth_seconds: float
    queued_seconds: float

    @property
    def real_time_factor(self) -> float:
        return self.synth_seconds / self.pcm.seconds


class RefusedError(Exception):
    """A synthesis the service will not (or could not) deliver. `reason` is the label it is counted
    under in tts_refusals_total; the HTTP layer maps each subclass to one status (http_app.py)."""

    reason = "refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownVoiceError(RefusedError):
    reason = "unknown_voice"


class NotReadyError(RefusedError):
    reason = "not_ready"


class BusyError(RefusedError):
    reason = "queue_full"


class InvalidAudioOutError(RefusedError):
    """The engine's audio failed the checks (silent, NaN, empty): never answered as 200."""

    reason = "invalid_audio"


class SynthesisFailedError(RefusedError):
    reason = "synthesis_failed"


def build_engine(settings: Settings) -> Engine:
    """Construct (not load) the configured engine; raises with a clear message on bad inputs.

    Weights are verified here, before the server listens, so a corrupt file stops the start.
    """
    voices = load_allowlist(settings.voices_dir) if settings.voices_dir else None
    if settings.engine == "lab":
        from .engines.lab import LabToneEngine

        names = frozenset(voices) if voices else frozenset({settings.default_voice})
        engine: Engine = LabToneEngine(names, rtf=settings.lab_rtf, load_seconds=settings.lab_load_seconds)
    else:
        # Both are enforced by Settings for this engine.
        assert settings.weights_dir is not None
        assert voices is not None
        importing = import_ahead()  # the libraries load while the weights are hashed (import_ahead.py)
        if settings.verify_weights:
            try:
                verify_weights(settings.weights_dir, Manifest.load(settings.weights_manifest))
            except Exception:
                importing.join()  # exit cleanly: never with a daemon thread half-way through an import
                raise
        from .engines.chatterbox import ChatterboxEngine

        cap = TokenCap(settings.token_cap_base_seconds, settings.token_cap_chars_per_second, settings.max_speech_tokens)
        engine = ChatterboxEngine(
            settings.weights_dir,
            voices,
            device=settings.device,
            patch_policy=settings.blackwell_patches,
            token_cap=cap,
            decode_path=settings.decode_path,
            decode_dtype=settings.decode_dtype,
            fast_max_prompt_tokens=settings.fast_max_prompt_tokens,
            memory_limit=settings.memory_limit(),
        )
    if settings.default_voice not in engine.voices:
        raise ValueError(f"default voice {settings.default_voice!r} is not in the voice allowlist")
    return engine


class ShimService:
    def __init__(self, settings: Settings, token: SecretStr, engine: Engine, shape: AnswerShape | None = None) -> None:
        self.settings = settings
        self.token = token
        self.engine = engine
        # Raises AnswerShapeError, naming what it cannot honour, before anything listens.
        self.shape = shape or AnswerShape.load(settings.contract_file)
        self.metrics = ShimMetrics()
        self.worker = InferenceWorker(settings.queue_depth)
        # Read from the queue itself whenever /metrics is scraped: one source, never a stale copy.
        self.metrics.queue_depth.set_function(lambda: self.worker.depth)
        self.state = State.STARTING
        self.failure: str | None = None
        self.started_at = time.time()
        self._unknown_fields_seen: set[str] = set()
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.state is State.READY

    def start(self) -> Future[None]:
        """Start the worker and queue the load + warm-up as its first job."""
        self.worker.start()
        job = self.worker.submit(self._load_and_warm)
        return job.future

    def stop(self) -> None:
        self.worker.stop()

    def _load_and_warm(self) -> None:
        try:
            self.state = State.LOADING
            self.engine.load()
            self.state = State.WARMING
            started = time.perf_counter()
            params = self.params(self.settings.warmup_text, self.settings.default_voice)
            pcm = self.to_pcm(self.engine.synthesize(params).wav)
            log.info(
                "warm-up synthesis passed",
                extra={"seconds": round(time.perf_counter() - started, 3), "audio_s": round(pcm.seconds, 3)},
            )
            self.metrics.load_seconds.set(self.engine.load_seconds or 0.0)
            self.state = State.READY
            self.metrics.ready.set(1)
            log.info("ready", extra={"engine": self.engine.name, "voices": sorted(self.engine.voices)})
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            self.state = State.FAILED
            log.exception("start-up failed", extra={"state": self.state.value, "reason": self.failure})

    def params(
        self,
        text: str,
        voice: str,
        exaggeration: float | None = None,
        cfg_weight: float | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> SynthesisParams:
        given = {"exaggeration": exaggeration, "cfg_weight": cfg_weight, "temperature": temperature}
        return SynthesisParams(text, voice, seed=seed, **{k: v for k, v in given.items() if v is not None})

    def to_pcm(self, wav: object) -> Pcm:
        """The engine's waveform as the answer's PCM: at the contract's sample rate, never silent."""
        rate = self.shape.sample_rate
        samples = resample(wav, self.engine.sample_rate, rate)  # type: ignore[arg-type]
        return to_pcm16(samples, rms_floor_dbfs=self.settings.rms_floor_dbfs, sample_rate=rate)

    def note_unknown_fields(self, names: list[str]) -> None:
        with self._lock:
            new = [n for n in names if n not in self._unknown_fields_seen]
            self._unknown_fields_seen.update(new)
        for name in new:
            # The field name only: its value may be private.
            log.info("ignoring unknown request field (logged once per name)", extra={"field": name[:64]})

    def health(self) -> dict[str, object]:
        return {
            "status": "alive",
            "state": self.state.value,
            "ready": self.ready,
            **self.engine.describe(),
            **self.shape.describe(),
            "queue_depth": self.worker.depth,
            "uptime_s": round(time.time() - self.started_at, 1),
        }

    def readiness(self) -> dict[str, object]:
        if not self.ready:
            body: dict[str, object] = {"ready": False, "state": self.state.value}
            if self.failure:
                body["reason"] = "start-up failed; see the service log"
            return body
        voices = sorted(self.engine.voices)
        return {
            "ready": True,
            "engine": self.engine.name,
            "voices": voices,
            "load_s": round(self.engine.load_seconds or 0.0, 3),
        }

    def admit(self, params: SynthesisParams) -> Job[Synthesis]:
        """Queue a synthesis for an allowed voice on a ready service; a RefusedError says why not."""
        if params.voice not in self.engine.voices:
            raise UnknownVoiceError("voice not in the allowlist")
        if not self.ready:
            raise NotReadyError(f"not ready ({self.state.value})")
        try:
            return self.submit(params)
        except QueueFullError:
            raise BusyError("busy: the synthesis queue is full") from None

    def outcome(self, job: Job[Synthesis]) -> Synthesis:
        """The finished job's synthesis, with its metrics recorded; a RefusedError for any failure."""
        try:
            result = job.future.result(timeout=0)
        except InvalidAudioError as exc:
            self.metrics.invalid_audio.inc()
            log.error("refused invalid audio", extra={"reason": str(exc), "voice": job.label})
            raise InvalidAudioOutError(f"synthesis produced invalid audio: {exc}") from None
        except Exception as exc:
            log.error("synthesis failed", exc_info=exc, extra={"voice": job.label})
            raise SynthesisFailedError(f"synthesis failed ({type(exc).__name__})") from None
        self.metrics.synthesis_seconds.observe(result.synth_seconds)
        self.metrics.real_time_factor.observe(result.real_time_factor)
        self.metrics.audio_seconds.inc(result.pcm.seconds)
        if result.output.hit_token_cap:
            self.metrics.token_cap_hits.inc()
        return result

    def submit(self, params: SynthesisParams) -> Job[Synthesis]:
        """Queue a synthesis; QueueFullError when the queue is at depth."""
        job: Job[Synthesis]

        def run() -> Synthesis:
            started = time.perf_counter()
            output = self.engine.synthesize(params)
            synth_seconds = time.perf_counter() - started
            pcm = self.to_pcm(output.wav)
            queued = (job.started_at or started) - job.enqueued_at
            return Synthesis(pcm, output, synth_seconds, queued)

        job = self.worker.submit(run)
        job.label = params.voice
        return job


def build_service(settings: Settings, token: SecretStr) -> ShimService:
    """The service as configured (shared by serve, the benches and the tests): the engine built and
    its weights verified, the answer shape read from the contract record; not started. Raises
    WeightsError, VoiceError, AnswerShapeError or ValueError naming a bad input."""
    shape = AnswerShape.load(settings.contract_file)
    return ShimService(settings, token, build_engine(settings), shape)
