#!/usr/bin/env bash
# Provide the Debian base image: use it if present, else pull debian:<suite> if a registry
# answers and tag it, else build it with debootstrap (minbase) and `docker import` it.
# Usage: scripts/local-base-image.sh [IMAGE] (default: local/debian:bookworm)
set -euo pipefail

image=${1:-local/debian:bookworm}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull -q "debian:$suite" >/dev/null 2>&1; then
  docker tag "debian:$suite" "$image"
  echo "local-base-image: pulled debian:$suite as $image" >&2
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
root=$(mktemp -d /tmp/debootstrap.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "local-base-image: debootstrap $suite into $root" >&2
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "local-base-image: built $image" >&2
