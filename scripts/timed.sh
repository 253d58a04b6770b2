#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and end with each one's wall time (CI has a
# time budget; this is where it goes). "a,b+c" runs c in the background (its output in a log,
# printed when all are done) while a and then b run in the foreground: the torch image build waits
# on the network and the disk while the shim's tests use the CPU. Disk is the other budget (a CI
# machine's free space varies): the report gives the free space after each step and the lowest
# seen while they ran, sampled every 5 s.  Usage: scripts/timed.sh STEP...
set -uo pipefail
cd "$(dirname "$0")/.."
declare -a report=()
status=0
logs=$(mktemp -d)

free_gb() { df -BG --output=avail / | tail -1 | tr -dc 0-9; }
echo "$(free_gb)" >"$logs/lowest"
(while sleep 5; do
  now=$(free_gb)
  lowest=$(cat "$logs/lowest")
  ((now < ${lowest:-now + 1})) && echo "$now" >"$logs/lowest"
done) &
sampler=$!
trap 'kill "$sampler" 2>/dev/null; rm -rf "$logs"' EXIT
printf '== free disk at the start: %s GB\n' "$(free_gb)"

line() { printf '%-24s %5ds  %-6s  %4s GB free' "$1" "$2" "$([[ $3 -eq 0 ]] && echo ok || echo FAILED)" "$(free_gb)"; }

timed_make() {
  local started=$SECONDS rc
  make --no-print-directory "$1"
  rc=$?
  report+=("$(line "$1" $((SECONDS - started)) "$rc")")
  return "$rc"
}

for step in "$@"; do
  front=${step%%+*} back=""
  [[ $step == *+* ]] && back=${step#*+}
  if [[ -n $back ]]; then
    started=$SECONDS
    make --no-print-directory "$back" >"$logs/$back.log" 2>&1 &
    back_pid=$!
  fi
  IFS=, read -ra fronts <<<"$front"
  for target in "${fronts[@]}"; do
    timed_make "$target" || { status=$?; break; }
  done
  if [[ -n $back ]]; then
    wait "$back_pid"
    back_status=$?
    printf '\n== %s (ran alongside %s)\n' "$back" "$front"
    cat "$logs/$back.log"
    report+=("$(line "$back" $((SECONDS - started)) "$back_status")")
    ((status == 0)) && status=$back_status
  fi
  ((status == 0)) || break
done
printf '\n== time per suite\n'
printf '%s\n' "${report[@]}"
printf 'lowest free disk while they ran: %s GB\n' "$(cat "$logs/lowest")"
exit "$status"
