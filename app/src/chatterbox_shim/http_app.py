"""The HTTP face of the shim: /v1/tts answered as the recorded Panda answers (answer_shape.py)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatterbox_panda_kit import contract as c

from .answer_shape import AmbientHeaders
from .request_model import TTSRequest, request_schema
from .service import (
    BusyError,
    InvalidAudioOutError,
    NotReadyError,
    RefusedError,
    ShimService,
    State,
    Synthesis,
    SynthesisFailedError,
    UnknownVoiceError,
)
from .voices import voice_name
from .worker import Job

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json", "application/x-json")
LOOP_WATCH_INTERVAL_S = 0.1


class ApiError(Exception):
    """A refusal: HTTP status, detail, and the reason it is counted under in tts_refusals_total."""

    def __init__(self, status: int, detail: Any, reason: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers or {}


class TokenRefusedError(Exception):
    """No token, or a wrong or ambiguous one: answered exactly as the recorded Panda answers it."""

    def __init__(self, case: str, reason: str) -> None:
        self.case = case
        self.reason = reason


class ClientGoneError(Exception):
    """The caller disconnected while its request waited."""


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    # Location, message and type only: echoing the input could put a caller's text in our logs.
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body over {limit} bytes", "body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body over {limit} bytes", "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_request(body: bytes, content_type: str | None) -> TTSRequest:
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise ApiError(422, "request body must be JSON (Content-Type: application/json)", "not_json")
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(422, "request body is not valid UTF-8", "not_json") from None
    except RecursionError:
        raise ApiError(422, "request body is nested too deeply", "not_json") from None
    except ValueError as exc:
        raise ApiError(422, f"request body is not valid JSON: {exc}", "not_json") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "request body must be a JSON object", "not_json")
    try:
        return TTSRequest.model_validate(payload)
    except ValidationError as exc:
        detail = _validation_detail(exc)
        no_text = any(e["loc"] in ([], ["text"]) for e in detail)
        raise ApiError(422, detail, "no_text" if no_text else "invalid_body") from None


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _finished_or_disconnect(request: Request, job: Job[Synthesis]) -> None:
    """Wait for the job, or abandon it when the caller leaves (ClientGoneError)."""
    result = asyncio.wrap_future(job.future)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        racing: set[asyncio.Future[Any]] = {result, watcher}
        done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if result in done:
        if job.future.cancelled():
            raise ApiError(503, "the service is stopping", "stopping")
        result.exception()  # seen here (asyncio warns of one never retrieved); the service reads the job's own
        return
    job.abandon()
    raise ClientGoneError


async def _watch_event_loop(service: ShimService) -> None:
    """Record how late the loop wakes: any blocking work on it delays every caller by that much."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LOOP_WATCH_INTERVAL_S
        await asyncio.sleep(LOOP_WATCH_INTERVAL_S)
        service.metrics.event_loop_lag.observe(max(0.0, loop.time() - due))


async def _exit_after_a_failed_start(service: ShimService, loaded: asyncio.Future[None], app: FastAPI) -> None:
    """A failed start-up stays visible on /health for a grace period (a failover gate reads it and
    names the cause), then the server stops so the process exits non-zero and the container's
    restart policy retries with back-off. In-process servers (tests, benches) set no stopper."""
    await loaded
    stop = getattr(app.state, "stop_server", None)
    if service.state is not State.FAILED or stop is None:
        return
    grace = service.settings.failed_exit_after_seconds
    log.error("start-up failed: exiting for the restart policy", extra={"after_s": grace, "reason": service.failure})
    await asyncio.sleep(grace)
    stop()


# One table from the service's refusals to HTTP; the HTTP layer's own refusals (body, JSON, size,
# time) carry their status in ApiError.
REFUSAL_STATUS: dict[type[RefusedError], int] = {
    UnknownVoiceError: 404,
    NotReadyError: 503,
    BusyError: 503,
    InvalidAudioOutError: 500,
    SynthesisFailedError: 500,
}
RETRY_LATER = (NotReadyError, BusyError)

TTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong X-Internal-Token"},
    404: {"description": "Voice not in the allowlist"},
    408: {"description": "The body did not arrive within SHIM_BODY_TIMEOUT_SECONDS"},
    413: {"description": "Body or text over the configured limit"},
    422: {"description": "Invalid body"},
    500: {"description": "Synthesis failed or produced silent/invalid audio"},
    503: {"description": "Not ready, or the queue is full (see Retry-After)"},
}


def _openapi(service: ShimService) -> tuple[dict[int | str, dict[str, Any]], dict[str, Any]]:
    success = {
        "description": f"Raw little-endian int16 mono PCM at {service.shape.sample_rate} Hz",
        "content": {c.PCM_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
    body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request_schema(service.settings.max_text_chars)}},
        },
        "parameters": [{"name": c.TOKEN_HEADER, "in": "header", "required": True, "schema": {"type": "string"}}],
    }
    return {200: success, **TTS_RESPONSES}, body


def _check_token(service: ShimService, request: Request) -> None:
    provided = request.headers.getlist(c.TOKEN_HEADER)
    if not provided:
        raise TokenRefusedError("missing_token", "token_missing")
    if len(provided) > 1:
        # Which of two tokens would a proxy or Panda honour? Neither: refuse the ambiguity.
        raise TokenRefusedError("wrong_token", "token_ambiguous")
    expected = service.token.get_secret_value().encode()
    if not hmac.compare_digest(provided[0].encode("utf-8", "surrogateescape"), expected):
        raise TokenRefusedError("wrong_token", "token_wrong")


async def _request_body(service: ShimService, request: Request, fields: dict[str, Any]) -> TTSRequest:
    settings = service.settings
    try:
        body = await asyncio.wait_for(_read_body(request, settings.max_body_bytes), settings.body_timeout_seconds)
    except TimeoutError:
        service.metrics.timeouts.inc()
        detail = f"request body not received within {settings.body_timeout_seconds:g} s"
        raise ApiError(408, detail, "body_timeout", {"Connection": "close"}) from None
    req = _parse_request(body, request.headers.get("content-type"))
    if req.unknown_fields:
        service.note_unknown_fields(req.unknown_fields)
    if req.cleaned:
        service.metrics.text_cleaned.inc()
        fields["text_cleaned"] = True
    for name in req.clamped:
        service.metrics.clamped.labels(param=name).inc()
    if len(req.text) > settings.max_text_chars:
        raise ApiError(413, f"text over {settings.max_text_chars} characters", "text_too_long")
    return req


async def _synthesize(service: ShimService, request: Request, fields: dict[str, Any]) -> Response:
    _check_token(service, request)
    req = await _request_body(service, request, fields)
    voice = voice_name(req.voice) if req.voice is not None else service.settings.default_voice
    params = service.params(req.text, voice, req.exaggeration, req.cfg_weight, req.temperature, req.seed)
    if voice in service.engine.voices:  # a caller's unknown voice name is not logged
        fields.update(voice=voice, chars=len(req.text))
    job = service.admit(params)
    await _finished_or_disconnect(request, job)
    result = service.outcome(job)
    fields.update(
        audio_s=round(result.pcm.seconds, 3),
        synth_s=round(result.synth_seconds, 4),
        queued_s=round(result.queued_seconds, 4),
        rtf=round(result.real_time_factor, 4),
        speech_tokens=result.output.speech_tokens,
    )
    return service.shape.success(result.pcm.data)


def _retry_after(service: ShimService) -> dict[str, str]:
    """When to ask again, for a refusal that passes (not ready, busy)."""
    return {c.HEADER_RETRY_AFTER: str(service.settings.retry_after_seconds)}


def _refusal(service: ShimService, exc: Exception, fields: dict[str, Any]) -> Response:
    """The answer for a refused request, counted under its reason."""
    if isinstance(exc, TokenRefusedError):
        service.metrics.refusals.labels(reason=exc.reason).inc()
        return service.shape.refusal(exc.case)
    if isinstance(exc, RefusedError):
        exc = ApiError(
            REFUSAL_STATUS[type(exc)],
            exc.detail,
            exc.reason,
            _retry_after(service) if isinstance(exc, RETRY_LATER) else None,
        )
    assert isinstance(exc, ApiError)
    service.metrics.refusals.labels(reason=exc.reason).inc()
    fields["refusal"] = exc.reason
    return _error(exc.status, exc.detail, exc.headers)


def create_app(service: ShimService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = asyncio.wrap_future(service.start())
        watcher = asyncio.create_task(_watch_event_loop(service))
        exiter = asyncio.create_task(_exit_after_a_failed_start(service, loaded, app))
        try:
            yield
        finally:
            watcher.cancel()
            exiter.cancel()
            await asyncio.to_thread(service.stop)

    app = FastAPI(
        title="Chatterbox TTS (Titan failover shim)", version="1", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.service = service
    app.add_middleware(AmbientHeaders, shape=service.shape)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()])

    @app.get(c.HEALTH_PATH)
    async def health() -> dict[str, Any]:
        return service.health()

    @app.get(c.READY_PATH)
    async def ready() -> JSONResponse:
        body = service.readiness()  # read once: the status and the body agree even mid start-up
        if body["ready"]:
            return JSONResponse(body)
        return JSONResponse(body, status_code=503, headers=_retry_after(service))

    @app.get(c.METRICS_PATH)
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    responses, openapi_body = _openapi(service)

    @app.post(c.TTS_PATH, responses=responses, openapi_extra=openapi_body, response_class=Response)
    async def tts(request: Request) -> Response:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        status = 500
        try:
            try:
                response = await _synthesize(service, request, fields)
            except (TokenRefusedError, RefusedError, ApiError) as exc:
                response = _refusal(service, exc, fields)
            status = response.status_code
            return response
        except ClientGoneError:
            status = 499  # nginx's "client closed request"; never sent, only counted
            service.metrics.abandoned.inc()
            return Response(status_code=499)
        finally:
            elapsed = time.perf_counter() - started
            service.metrics.requests.labels(status=str(status)).inc()
            service.metrics.request_seconds.observe(elapsed)
            log.info("tts", extra={"status": status, "request_s": round(elapsed, 4), **fields})

    return app
