#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and end with each one's wall time (CI has a
# time budget; this is where it goes). "a+b" runs a and b at once: a in the foreground, b with its
# output in a log printed when both are done (the torch image build waits on the network and the
# disk while the shim's tests use the CPU).  Usage: scripts/timed.sh TARGET|A+B ...
set -uo pipefail
cd "$(dirname "$0")/.."
declare -a report=()
status=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

line() { printf '%-24s %5ds  %s' "$1" "$2" "$([[ $3 -eq 0 ]] && echo ok || echo FAILED)"; }

for step in "$@"; do
  started=$(date +%s)
  if [[ $step == *+* ]]; then
    front=${step%%+*} back=${step#*+}
    make --no-print-directory "$back" >"$logs/$back.log" 2>&1 &
    back_pid=$!
    make --no-print-directory "$front"
    front_status=$?
    front_s=$(($(date +%s) - started))
    wait "$back_pid"
    back_status=$?
    printf '\n== %s (ran alongside %s)\n' "$back" "$front"
    cat "$logs/$back.log"
    report+=("$(line "$front" "$front_s" "$front_status")" "$(line "$back" $(($(date +%s) - started)) "$back_status")")
    status=$((front_status || back_status))
  else
    make --no-print-directory "$step"
    status=$?
    report+=("$(line "$step" $(($(date +%s) - started)) "$status")")
  fi
  ((status == 0)) || break
done
printf '\n== time per suite\n'
printf '%s\n' "${report[@]}"
exit "$status"
