"""uvicorn with a deadline for each request's head.

uvicorn waits for a request line and headers for as long as a caller keeps the connection open
(measured with 0.54: a connection that sends half a head is held indefinitely). A stalled or
hostile caller could hold sockets forever; this protocol closes any connection whose next
request head is not complete within the deadline, counted from the connection or from the end
of the previous response. The body has its own deadline in the request handler.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_timeout_seconds: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
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


def protocol_with_head_deadline(seconds: float) -> type[HeadDeadlineProtocol]:
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout_seconds": seconds})


def uvicorn_options(head_timeout_seconds: float) -> dict[str, Any]:
    """What every server of this app runs with: our logging only, Panda's Server header, deadlines."""
    return {
        "log_config": None,
        "access_log": False,
        "server_header": True,
        "timeout_keep_alive": 5,
        "http": protocol_with_head_deadline(head_timeout_seconds),
    }


def run(app: Any, host: str, port: int, head_timeout_seconds: float) -> None:
    uvicorn.run(app, host=host, port=port, **uvicorn_options(head_timeout_seconds))
