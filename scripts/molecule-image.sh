#!/usr/bin/env bash
# The test-host image every molecule scenario runs on: local Debian base + python3 + systemd.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-local/molecule-debian:bookworm}
bash scripts/local-base-image.sh local/debian:bookworm
if ! docker image inspect "$image" >/dev/null 2>&1; then
  docker build -q --network host -t "$image" images/molecule >/dev/null
  echo "molecule-image: built $image" >&2
fi
