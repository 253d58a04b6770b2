"""verify-weights DIR: check every weight file against the manifest; non-zero exit on any problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..weights import Manifest, check_weights

PROGRESS_STEP = 256 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify-weights", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--manifest", type=Path, help="manifest JSON (default: the pinned production manifest)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    try:
        manifest = Manifest.load(args.manifest)
    except (OSError, ValueError, KeyError) as exc:
        print(f"verify-weights: cannot read the manifest: {exc}", file=sys.stderr)
        return 2
    last: dict[str, int] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if args.quiet or (done - last.get(name, 0) < PROGRESS_STEP and done != total):
            return
        last[name] = done
        share = f"{100 * done / total:5.1f}%" if total else ""
        print(f"  {name}: {done / 1e6:9.1f} MB {share}", file=sys.stderr, flush=True)

    print(f"verifying {args.directory} against {manifest.name}", flush=True)
    problems = check_weights(args.directory, manifest, progress)
    for entry in manifest.files:
        problem = next((p.problem for p in problems if p.name == entry.name), None)
        print(f"{'FAIL' if problem else 'ok  '} {entry.name}{': ' + problem if problem else ''}", flush=True)
    if problems:
        print(
            f"verify-weights: {len(problems)} of {len(manifest.files)} files do not match: "
            + ", ".join(p.name for p in problems),
            file=sys.stderr,
        )
        return 1
    print(f"all {len(manifest.files)} files match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
