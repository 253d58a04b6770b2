"""chatterbox-shim: start the service (settings from the environment, see docs/CONFIG.md)."""

from __future__ import annotations

import logging
import sys

from ..logs import configure_logging
from ..settings import SettingsError, load_settings
from ..voices import VoiceError
from ..weights import WeightsError

EXIT_BAD_SETTINGS = 2
EXIT_BAD_INPUTS = 3
# The model, a voice or the warm-up failed after the server started (docs/CONFIG.md).
EXIT_START_UP_FAILED = 4


def main() -> int:
    try:
        settings, token = load_settings()
    except SettingsError as exc:
        print(f"chatterbox-shim: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings.log_level, secrets=[token.get_secret_value()])
    log = logging.getLogger("chatterbox_shim")

    from ..answer_shape import AnswerShapeError
    from ..http_app import create_app
    from ..http_server import run
    from ..service import build_service

    try:
        service = build_service(settings, token)
    except (WeightsError, VoiceError, AnswerShapeError, ValueError) as exc:
        log.error("refusing to start", extra={"reason": str(exc)})
        print(f"chatterbox-shim: refusing to start: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUTS
    shape = service.shape
    log.info(
        "starting",
        extra={
            "engine": service.engine.name,
            "host": settings.host,
            "port": settings.port,
            "queue_depth": settings.queue_depth,
            "contract": shape.source,
            "sample_rate": shape.sample_rate,
        },
    )
    run(create_app(service), settings.host, settings.port, settings.head_limits())
    if service.failure is not None:
        print(f"chatterbox-shim: start-up failed: {service.failure}", file=sys.stderr)
        return EXIT_START_UP_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
