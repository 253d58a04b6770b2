"""make-test-voices DIR: espeak-ng reference WAVs and a metadata.json allowlist (test voices)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatterbox_tools.testvoices import EspeakMissingError, write_test_voices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make-test-voices", description=__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    try:
        sums = write_test_voices(args.directory)
    except EspeakMissingError as exc:
        print(f"make-test-voices: {exc}", file=sys.stderr)
        return 2
    for name, digest in sums.items():
        print(f"{name}.wav {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
