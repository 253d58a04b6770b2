#!/usr/bin/env bash
# Make sure a Docker engine answers. If none does and we are root on Debian or Ubuntu, install
# Debian's docker.io and start dockerd in the background (machines without systemd as PID 1).
set -euo pipefail

log() { echo "docker-up: $*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  log "no Docker engine answers, and this is not root on Debian/Ubuntu: start one yourself (https://docs.docker.com/engine/install/)"
  exit 1
fi
if ! command -v dockerd >/dev/null; then
  log "installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
log "dockerd did not come up; see /var/log/dockerd.log"
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
