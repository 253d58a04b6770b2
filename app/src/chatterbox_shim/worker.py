"""One inference thread in front of one model, fed by a bounded queue.

Chatterbox's generate path is not re-entrant, so exactly one thread ever touches the model. The
queue bound turns overload into an immediate 503 instead of unbounded latency, and a job whose
caller went away is dropped before it costs a synthesis.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class QueueFullError(RuntimeError):
    """More callers are waiting than the configured queue depth."""


@dataclass
class Job(Generic[T]):
    run: Callable[[], T]
    future: Future[T] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    # What the job is for, in log lines (a voice name; never the text).
    label: str = ""

    def abandon(self) -> bool:
        """The caller left. True if the job had not started (it will never run)."""
        return self.future.cancel()


_STOP = object()


class InferenceWorker:
    def __init__(self, depth: int, name: str = "inference") -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._busy = threading.Event()
        self.skipped_abandoned = 0

    @property
    def depth(self) -> int:
        """Jobs waiting, not counting the one running."""
        return self._queue.qsize()

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        # Drain waiting jobs so their callers get an answer rather than hang.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Job):
                item.future.cancel()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def submit(self, run: Callable[[], T]) -> Job[T]:
        job: Job[T] = Job(run)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFullError(f"inference queue is full ({self._queue.maxsize} waiting)") from None
        return job

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Job)
            if not item.future.set_running_or_notify_cancel():
                self.skipped_abandoned += 1
                log.info(
                    "skipped a job whose caller left",
                    extra={"queued_s": round(time.perf_counter() - item.enqueued_at, 3)},
                )
                continue
            item.started_at = time.perf_counter()
            self._busy.set()
            try:
                result = item.run()
            except BaseException as exc:  # the future carries it to the caller
                item.future.set_exception(exc)
            else:
                item.future.set_result(result)
            finally:
                self._busy.clear()
