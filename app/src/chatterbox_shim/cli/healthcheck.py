"""chatterbox-shim-healthcheck: exit 0 when the local service answers /ready with 200 (Docker HEALTHCHECK).

Standard library only; reads SHIM_PORT (default 8773) and asks 127.0.0.1, where the service also
listens inside its container.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from chatterbox_panda_kit.contract import READY_PATH

DEFAULT_PORT = "8773"


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('SHIM_PORT', DEFAULT_PORT)}{READY_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
