#!/usr/bin/env bash
# make demo: the whole failover on the local lab, start to finish, with timings.
# standby -> Panda's TTS dies -> failover -> calls go through Titan -> Panda back -> rollback.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHATTERBOX_LAB_ROOT=${CHATTERBOX_LAB_ROOT:-/tmp/chatterbox-lab}
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
INVENTORY=inventory/lab
declare -A WALL

say() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
timed() {
  local name=$1; shift
  local start=$SECONDS started
  started=$(date +%s.%N)
  "$@"
  WALL[$name]=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
  : "$start"
}
daemon_log() { docker exec chatterbox-lab-panda tail -n "${1:-3}" /var/log/phone-daemon.jsonl; }
cleanup() {
  if [[ ${KEEP_LAB:-0} != 1 ]]; then say "Cleaning up (KEEP_LAB=1 keeps the lab)"; bash scripts/lab.sh down; fi
}
trap cleanup EXIT

say "Bringing up the lab (panda + titan containers, Panda's TTS on 127.0.0.1:8772)"
timed lab_up bash scripts/lab.sh up
sleep 5
say "The phone daemon talks to Panda"
daemon_log 2

say "standby.yml: Titan's shim built, voices synced, running and ready on 127.0.0.1:8773"
timed standby ansible-playbook -i "$INVENTORY" ansible/standby.yml

say "Panda's TTS dies"
docker stop chatterbox-lab-panda-tts >/dev/null
sleep 5
daemon_log 2

say "failover.yml"
timed failover ansible-playbook -i "$INVENTORY" ansible/failover.yml
sleep 6
say "The daemon's calls now go through Titan"
daemon_log 3

say "Panda's TTS is back"
docker start chatterbox-lab-panda-tts >/dev/null
for _ in $(seq 1 30); do curl -fs http://127.0.0.1:8772/ready >/dev/null && break; sleep 1; done

say "rollback.yml"
timed rollback ansible-playbook -i "$INVENTORY" ansible/rollback.yml
sleep 5
daemon_log 2

say "Audit log on Panda"
docker exec chatterbox-lab-panda cat /var/lib/chatterbox-failover/audit.log

say "Summary"
python3 - "$CHATTERBOX_LAB_ROOT" <<PY
import json, subprocess
lines = subprocess.run(["docker", "exec", "chatterbox-lab-panda", "cat", "/var/log/phone-daemon.jsonl"],
                       capture_output=True, text=True, check=True).stdout.splitlines()
calls = [json.loads(l) for l in lines]
by_url = {}
for call in calls:
    key = (call["url"], call["valid_audio"])
    by_url[key] = by_url.get(key, 0) + 1
print(f"{'url':32} {'valid audio':>12} {'calls':>6}")
for (url, valid), count in sorted(by_url.items()):
    print(f"{url:32} {str(valid):>12} {count:>6}")
PY
printf '%-10s %8s\n' playbook "wall s"
for name in lab_up standby failover rollback; do printf '%-10s %8s\n' "$name" "${WALL[$name]}"; done
