"""Import the model's libraries on a thread while the main thread hashes the weights.

torch, transformers, diffusers, librosa and chatterbox take about 8 s to import on an H200's host
(more on a cold disk), and the sha256 check of the weights about 2 s: neither needs the other, and
hashing releases the GIL, so they overlap. Nothing here reads a weight file. A failed import is
left for the worker's own import to raise, with its full context, when it loads the model.
"""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger(__name__)

MODEL_MODULES = ("chatterbox_shim.engines.chatterbox", "chatterbox.tts")


def import_ahead(modules: tuple[str, ...] = MODEL_MODULES) -> threading.Thread:
    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the worker imports it again and reports the error there
                log.debug("import ahead failed", extra={"module": name}, exc_info=True)
                return

    thread = threading.Thread(target=run, name="import-ahead", daemon=True)
    thread.start()
    return thread
