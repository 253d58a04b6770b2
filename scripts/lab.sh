#!/usr/bin/env bash
# The local lab: "panda" and "titan" as systemd containers on this machine (host networking,
# 127.0.0.1 only), set up by ansible/lab/setup.yml.
#   scripts/lab.sh up | down | status
set -euo pipefail
cd "$(dirname "$0")/.."

LAB_ROOT=${CHATTERBOX_LAB_ROOT:-/tmp/chatterbox-lab}
export CHATTERBOX_LAB_ROOT=$LAB_ROOT
# Image builds here reach PyPI through a TLS proxy whose CA pip already trusts (PIP_CERT).
export SHIM_EXTRA_CA=${SHIM_EXTRA_CA:-${PIP_CERT:-}}
BIN=${VENV_BIN:-$PWD/.venv/bin}
export PATH=$BIN:$PATH
export ANSIBLE_CONFIG=$PWD/ansible.cfg
HOST_IMAGE=local/molecule-debian:bookworm
CONTAINERS=(chatterbox-lab-panda chatterbox-lab-titan chatterbox-lab-shim chatterbox-lab-panda-tts)

log() { printf '\033[1mlab:\033[0m %s\n' "$*" >&2; }

start_host() {
  local name=$1; shift
  if [[ $(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null) == true ]]; then return; fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --network host --cgroupns host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock "$@" "$HOST_IMAGE" /sbin/init >/dev/null
  for _ in $(seq 1 60); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] && return
    sleep 1
  done
  log "$name: systemd did not come up"; return 1
}

up() {
  bash scripts/docker-up.sh
  bash scripts/molecule-image.sh "$HOST_IMAGE"
  mkdir -p "$LAB_ROOT/titan" "$LAB_ROOT/stage"
  if [[ ! -s $LAB_ROOT/token ]]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32), end="")' >"$LAB_ROOT/token")
  fi
  install -m 0400 -o 10001 -g 10001 "$LAB_ROOT/token" "$LAB_ROOT/panda-tts-token"
  start_host chatterbox-lab-panda
  # Titan drives the host's engine; like the real Titan it has the docker CLI too (the shim role
  # reads a failed shim's log with it).
  start_host chatterbox-lab-titan -v /var/run/docker.sock:/var/run/docker.sock -v "$LAB_ROOT/titan:$LAB_ROOT/titan" \
    -v "$(command -v docker):/usr/local/bin/docker:ro"
  docker exec chatterbox-lab-titan mkdir -p /etc/ansible/facts.d
  log "setting up the lab hosts"
  ansible-playbook -i inventory/lab ansible/lab/setup.yml
}

down() {
  docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  rm -rf "$LAB_ROOT"
  log "lab removed"
}

status() {
  docker ps -a --filter name=chatterbox-lab --format '{{.Names}}\t{{.Status}}'
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
