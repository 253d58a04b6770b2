#!/usr/bin/env bash
# The test-host image every molecule scenario runs on: local Debian base + python3 + systemd.
# Rebuilt when images/molecule/Dockerfile changes (its sha256 is a label on the image).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-local/molecule-debian:bookworm}
bash scripts/local-base-image.sh local/debian:bookworm
wanted=$(sha256sum images/molecule/Dockerfile | cut -c1-64)
have=$(docker image inspect --format '{{index .Config.Labels "io.her-os.molecule.dockerfile-sha256"}}' "$image" 2>/dev/null || true)
if [[ $have != "$wanted" ]]; then
  docker build -q --network host --label "io.her-os.molecule.dockerfile-sha256=$wanted" -t "$image" images/molecule >/dev/null
  echo "molecule-image: built $image" >&2
fi
