"""uvicorn with a deadline for each request's head.

uvicorn waits for a request line and headers for as long as a caller keeps the connection open
(measured with 0.54: a connection that sends half a head is held indefinitely). A stalled or
hostile caller could hold sockets forever; this protocol closes any connection whose next
request head is not complete within the deadline, counted from the connection or from the end
of the previous response. The body has its own deadline in the request handler.

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


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_timeout_seconds: float = 10.0
    header_spelling: dict[bytes, bytes] = {}  # noqa: RUF012 - set per subclass, never mutated
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.header_spelling:
            self.transport = SpellingTransport(transport, self.header_spelling)  # type: ignore[assignment]
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

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
    seconds: float, header_spelling: dict[bytes, bytes] | None = None
) -> type[HeadDeadlineProtocol]:
    attributes = {"head_timeout_seconds": seconds, "header_spelling": dict(header_spelling or {})}
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), attributes)


def uvicorn_options(head_timeout_seconds: float, header_spelling: dict[bytes, bytes] | None = None) -> dict[str, Any]:
    """What every server of this app runs with: our logging only, deadlines, and no Date or Server
    of uvicorn's own: the app writes those where the contract record puts them (answer_shape)."""
    return {
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "date_header": False,
        "timeout_keep_alive": 5,
        "http": protocol_with_head_deadline(head_timeout_seconds, header_spelling),
    }


def run(app: Any, host: str, port: int, head_timeout_seconds: float) -> None:
    spelling = app.state.service.shape.spelling
    uvicorn.run(app, host=host, port=port, **uvicorn_options(head_timeout_seconds, spelling))
