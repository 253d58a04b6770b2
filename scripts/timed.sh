#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and end with each one's wall time (CI has a
# time budget; this is where it goes). "a,b+c" runs c in the background (its output in a log,
# printed when all are done) while a and then b run in the foreground: the torch image build waits
# on the network and the disk while the shim's tests use the CPU.  Usage: scripts/timed.sh STEP...
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
    front_status=0
    IFS=, read -ra fronts <<<"$front"
    for target in "${fronts[@]}"; do
      target_started=$(date +%s)
      make --no-print-directory "$target"
      front_status=$?
      report+=("$(line "$target" $(($(date +%s) - target_started)) "$front_status")")
      ((front_status == 0)) || break
    done
    wait "$back_pid"
    back_status=$?
    printf '\n== %s (ran alongside %s)\n' "$back" "$front"
    cat "$logs/$back.log"
    report+=("$(line "$back" $(($(date +%s) - started)) "$back_status")")
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
