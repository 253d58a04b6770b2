"""uvicorn with a deadline for each request's head.

uvicorn waits for a request line and headers for as long as a caller keeps the connection open
(measured with 0.54: a connection that sends half a head is held indefinitely). A stalled or
hostile caller could hold sockets forever; this protocol closes any connection whose next
request head is not complete within the deadline, counted from the connection or from the end
of the previous response. The body has its own deadline in the request handler.

uvicorn bounds neither the number nor the size of request headers (5,000 headers, or one of
100 KB, were served). Past either limit the head is no longer kept: the caller gets 431 and the
connection is closed, before the app sees the request.

uvicorn also writes every header name in lower case. A recorded Panda that spells a name
otherwise (X-Audio-Duration) gets it spelled so: the response head passes through a transport
that restores the recorded spelling, name by name, and touches nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import HeadLimits

log = logging.getLogger(__name__)


class SpellingTransport:
    """Writes through to the real transport, respelling header names in each response head."""

    def __init__(self, transport: asyncio.Transport, spelling: dict[bytes, bytes]) -> None:
        self._transport = transport
        self._spelling = spelling
        self.expect_head = True

    def write(self, data: bytes) -> None:
        if self.expect_head and data.startswith(b"HTTP/1."):
            head, sep, rest = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            for index in range(1, len(lines)):
                name, colon, value = lines[index].partition(b":")
                lines[index] = self._spelling.get(name, name) + colon + value
            data = b"\r\n".join(lines) + sep + rest
            # A 100 Continue is followed by the real head.
            self.expect_head = data.startswith((b"HTTP/1.1 1", b"HTTP/1.0 1"))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


HEADERS_TOO_LARGE_BODY = b"Request header fields too large"
HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(HEADERS_TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + HEADERS_TOO_LARGE_BODY
)


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_timeout_seconds: float = 10.0
    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    header_spelling: dict[bytes, bytes] = {}  # noqa: RUF012 - set per subclass, never mutated
    _head_deadline: asyncio.TimerHandle | None = None
    _header_count = 0
    _header_bytes = 0
    _head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.header_spelling:
            self.transport = SpellingTransport(transport, self.header_spelling)  # type: ignore[assignment]
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        self._header_count, self._header_bytes, self._head_too_large = 0, 0, False
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # "name: value\r\n"
        if self._header_count > self.max_header_count or self._header_bytes > self.max_header_bytes:
            self._head_too_large = True
        if not self._head_too_large:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        if self._head_too_large:
            log.info(
                "refused a request whose headers are over the limits",
                extra={
                    "peer": ":".join(map(str, self.client or ())),
                    "headers": self._header_count,
                    "header_bytes": self._header_bytes,
                    "max_headers": self.max_header_count,
                    "max_header_bytes": self.max_header_bytes,
                },
            )
            self.transport.write(HEADERS_TOO_LARGE)
            self.transport.close()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._head_too_large:  # the rest of a refused request is read and dropped
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._head_too_large:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        if isinstance(self.transport, SpellingTransport):
            self.transport.expect_head = True
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_seconds, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_deadline_passed(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            # The peer address only: enough to find a misbehaving caller, nothing it sent.
            log.info(
                "closed a connection whose request head did not arrive in time",
                extra={"peer": ":".join(map(str, self.client or ())), "limit_s": self.head_timeout_seconds},
            )
            self.transport.close()


def protocol_with_head_deadline(
    limits: HeadLimits, header_spelling: dict[bytes, bytes] | None = None
) -> type[HeadDeadlineProtocol]:
    attributes = {
        "head_timeout_seconds": limits.timeout_seconds,
        "max_header_count": limits.max_header_count,
        "max_header_bytes": limits.max_header_bytes,
        "header_spelling": dict(header_spelling or {}),
    }
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), attributes)


def uvicorn_options(limits: HeadLimits, header_spelling: dict[bytes, bytes] | None = None) -> dict[str, Any]:
    """What every server of this app runs with: our logging only, deadlines and header limits, and
    no Date or Server of uvicorn's own: the app writes those where the contract record puts them
    (answer_shape)."""
    return {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "date_header": False,
        "timeout_keep_alive": 5,
        "http": protocol_with_head_deadline(limits, header_spelling),
    }


def run(app: Any, host: str, port: int, limits: HeadLimits) -> None:
    spelling = app.state.service.shape.spelling
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **uvicorn_options(limits, spelling)))
    # The app may stop its own server (a failed start-up exits for the restart policy: http_app).
    app.state.stop_server = lambda: setattr(server, "should_exit", True)
    server.run()
