"""chatterbox-shim-acceptance: run the first-contact checks (acceptance.py) with the service's own
settings (the SHIM_* environment of the container it runs in) and print the report as JSON.

  docker exec chatterbox-shim chatterbox-shim-acceptance --require-gpu

Exit 0 when no check failed (unproven ones are listed), 1 when any failed, 2 on bad settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ..acceptance import PASSED, run
from ..sentences import default_sentences
from ..settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chatterbox-shim-acceptance", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=3, help="sentences for synthesis and token equivalence")
    parser.add_argument("--require-gpu", action="store_true", help="a missing GPU fails instead of being unproven")
    args = parser.parse_args(argv)
    try:
        settings, _ = load_settings()
    except SettingsError as exc:
        print(f"chatterbox-shim-acceptance: {exc}", file=sys.stderr)
        return 2
    # Libraries print to stdout (resemble-perth's "loaded PerthNet"); stdout carries only the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        report = run(settings, default_sentences()[: args.sentences], require_gpu=args.require_gpu)
    for check in report.checks:
        mark = {PASSED: "ok  "}.get(check.outcome, check.outcome.upper()[:4])
        print(f"{mark} {check.name}: {check.detail}", file=sys.stderr)
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 1 if report.names("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
