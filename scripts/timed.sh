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

timed_make() {
  local started=$SECONDS rc
  make --no-print-directory "$1"
  rc=$?
  report+=("$(printf '%-24s %5ds  %s' "$1" $((SECONDS - started)) "$([[ $rc -eq 0 ]] && echo ok || echo FAILED)")")
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
    report+=("$(printf '%-24s %5ds  %s' "$back" $((SECONDS - started)) "$([[ $back_status -eq 0 ]] && echo ok || echo FAILED)")")
    ((status == 0)) && status=$back_status
  fi
  ((status == 0)) || break
done
printf '\n== time per suite\n'
printf '%s\n' "${report[@]}"
exit "$status"
