"""What the shim's /v1/tts answers look like on the wire, rendered from a contract record.

With SHIM_CONTRACT_FILE the record learned from the live Panda (chatterbox-parity contract record)
decides every header of the answer: names, spelling, order, exact values, the duration's style,
the content type, the wrong-token and no-token answers verbatim, and the PCM's sample rate.
Without it the built-in record below is served: the project's defaults, which are guesses about
Panda until a recorded contract says otherwise (docs/CONTRACT.md).

Anything a record asks for that the shim cannot produce (several channels, a header whose value
changes per answer in a way it cannot compute, an answer without Content-Length) stops the start
with a message naming it, before the service listens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatterbox_panda_kit import contract as c
from chatterbox_panda_kit import contract_spec as spec

# Set on the answers rendered here and removed before they leave, so the ambient headers (the
# record's Date and Server, which uvicorn would otherwise add) go only on the service's other answers.
SHAPED_MARKER = (b"x-shim-shaped-answer", b"1")
AMBIENT_HEADERS = ("date", "server")


class AnswerShapeError(ValueError):
    """The record cannot be honoured; the message names what and says what to do."""


def _error_body(detail: str) -> str:
    # What FastAPI's JSONResponse({"detail": ...}) writes.
    return json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":"))


def _error_case(detail: str) -> dict[str, Any]:
    return {
        "status": 401,
        "headers": [
            {"name": "date", "format": "http-date"},
            {"name": "server", "exact": "uvicorn"},
            {"name": "content-length", "format": "body-length"},
            {"name": "content-type", "exact": "application/json"},
        ],
        "body": {"exact": _error_body(detail)},
    }


def builtin_record() -> dict[str, Any]:
    """The shim's answers when no record is given (what it served before records existed)."""
    return {
        "tool": "built-in defaults",
        "format": spec.RECORD_FORMAT,
        "captured_from": None,
        "request": {"method": "POST", "token_header": c.TOKEN_HEADER, "texts": list(spec.PROBE_TEXTS)},
        "audio": {
            "encoding": "s16le",
            "sample_width_bytes": c.SAMPLE_WIDTH_BYTES,
            "channels": c.CHANNELS,
            "channels_source": "built-in default",
            "sample_rate": c.SAMPLE_RATE,
            "sample_rate_source": "built-in default",
        },
        "success": {
            "status": 200,
            "headers": [
                {"name": "date", "format": "http-date"},
                {"name": "server", "exact": "uvicorn"},
                {"name": c.HEADER_AUDIO_DURATION.lower(), "format": "seconds", "styles": ["fixed:3"]},
                {"name": c.HEADER_SAMPLE_RATE.lower(), "exact": str(c.SAMPLE_RATE)},
                {"name": c.HEADER_CHANNELS.lower(), "exact": str(c.CHANNELS)},
                {"name": c.HEADER_FORMAT.lower(), "exact": c.PCM_FORMAT},
                {"name": "content-length", "format": "body-length"},
                {"name": "content-type", "exact": c.PCM_CONTENT_TYPE},
            ],
            "body": {"framing": "pcm"},
        },
        "wrong_token": _error_case(f"invalid {c.TOKEN_HEADER}"),
        "missing_token": _error_case(f"missing {c.TOKEN_HEADER}"),
    }


def _check_headers(case: str, headers: list[dict[str, Any]]) -> None:
    names = [h["name"].lower() for h in headers]
    if "content-length" not in names:
        raise AnswerShapeError(f"the recorded {case} answer has no Content-Length; the shim always sends one")
    if "transfer-encoding" in names:
        raise AnswerShapeError(f"the recorded {case} answer is chunked; the shim sends whole answers")
    for header in headers:
        if "exact" not in header and header.get("format") not in spec.RENDERABLE_FORMATS:
            raise AnswerShapeError(
                f"the recorded {case} answer's header {header['name']} changes per answer "
                f"({header.get('format')}, e.g. {header.get('example')!r}) in a way the shim cannot compute; "
                "if any value will do, make it exact in the record"
            )


def validate(record: dict[str, Any]) -> int:
    """Refuse a record the shim cannot honour; the PCM sample rate it asks for."""
    try:
        spec.validate_record(record)
    except spec.ContractError as error:
        raise AnswerShapeError(str(error)) from None
    audio = record["audio"]
    if audio.get("channels") != c.CHANNELS:
        raise AnswerShapeError(f"the record asks for {audio.get('channels')} channels; the model speaks mono only")
    if audio.get("sample_width_bytes") != c.SAMPLE_WIDTH_BYTES:
        raise AnswerShapeError(f"the record asks for {audio.get('sample_width_bytes')}-byte samples; only int16")
    rate = audio.get("sample_rate")
    if not isinstance(rate, int) or not 8000 <= rate <= 192_000:
        raise AnswerShapeError(
            f"the record does not say the PCM's sample rate ({rate!r}, {audio.get('sample_rate_source')}); "
            "set audio.sample_rate in the record if you know it"
        )
    if record["success"]["status"] != 200 or "framing" not in record["success"]["body"]:
        raise AnswerShapeError("the record's successful answer is not a 200 with PCM")
    for case in spec.CASES:
        _check_headers(case, record[case]["headers"])
    return rate


@dataclass(frozen=True)
class AnswerShape:
    record: dict[str, Any]
    sample_rate: int
    source: str
    spelling: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> AnswerShape:
        if path is None:
            record, source = builtin_record(), "built-in"
        else:
            try:
                record = spec.load_record(path)
            except spec.ContractError as error:
                raise AnswerShapeError(str(error)) from None
            source = str(path)
        rate = validate(record)
        spelling: dict[bytes, bytes] = {}
        for case in reversed(spec.CASES):  # the success answer's spelling wins a disagreement
            for header in record[case]["headers"]:
                name = header["name"].encode("latin-1")
                if name != name.lower():
                    spelling[name.lower()] = name
        return cls(record, rate, source, spelling)

    def _headers(self, case: str, body: bytes) -> list[tuple[bytes, bytes]]:
        rendered = []
        audio = self.record["audio"]
        for header in self.record[case]["headers"]:
            if "exact" in header:
                value = header["exact"]
            elif header["format"] == "http-date":
                value = spec.http_date()
            elif header["format"] == "body-length":
                value = str(len(body))
            else:
                value = spec.render_seconds(header["styles"][0], spec.frames_of(body, audio), self.sample_rate)
            rendered.append((header["name"].lower().encode("latin-1"), value.encode("latin-1")))
        return [*rendered, SHAPED_MARKER]

    def _response(self, case: str, body: bytes) -> Response:
        response = Response(content=body, status_code=self.record[case]["status"])
        response.raw_headers = self._headers(case, body)
        return response

    def success(self, pcm: bytes) -> Response:
        return self._response("success", pcm)

    def refusal(self, case: str) -> Response:
        """The recorded answer to a wrong (case "wrong_token") or absent ("missing_token") token."""
        return self._response(case, spec.body_bytes(self.record[case]["body"]))

    def ambient(self) -> list[dict[str, Any]]:
        return [h for h in self.record["success"]["headers"] if h["name"].lower() in AMBIENT_HEADERS]

    def describe(self) -> dict[str, Any]:
        """For /health: where the answers' shape comes from (never the record's path) and the rate."""
        return {"contract": "built-in" if self.source == "built-in" else "recorded", "sample_rate": self.sample_rate}


class AmbientHeaders:
    """ASGI middleware: the record's Date and Server on every answer not rendered from the record,
    where uvicorn would have put them (the server runs with its own Date and Server off)."""

    def __init__(self, app: ASGIApp, shape: AnswerShape) -> None:
        self.app = app
        self.ambient = shape.ambient()

    def _ambient(self) -> list[tuple[bytes, bytes]]:
        values = []
        for header in self.ambient:
            value = header["exact"] if "exact" in header else spec.http_date()
            values.append((header["name"].lower().encode("latin-1"), value.encode("latin-1")))
        return values

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_ambient(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if SHAPED_MARKER in headers:
                    headers.remove(SHAPED_MARKER)
                else:
                    headers = self._ambient() + headers
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_ambient)
