"""make-test-bundle DIR: write random weights of the true Chatterbox shapes (NOT a voice)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chatterbox_tools.testbundle import bundle_is_current, write_test_bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make-test-bundle", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rewrite even if a current bundle is there")
    args = parser.parse_args(argv)
    if not args.force and bundle_is_current(args.directory, args.seed):
        print(f"{args.directory}: current test bundle present, nothing to do")
        return 0
    started = time.perf_counter()
    manifest = write_test_bundle(args.directory, args.seed)
    print(f"wrote {manifest.name} to {args.directory} in {time.perf_counter() - started:.1f} s")
    for entry in manifest.files:
        print(f"  {entry.name:20} {entry.size:>12} bytes  {entry.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
