#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and end with each one's wall time
# (CI has a time budget; this is where it goes).  Usage: scripts/timed.sh TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
declare -a report=()
status=0
for target in "$@"; do
  started=$(date +%s)
  make --no-print-directory "$target"
  status=$?
  report+=("$(printf '%-16s %5ds  %s' "$target" $(($(date +%s) - started)) "$([[ $status -eq 0 ]] && echo ok || echo FAILED)")")
  ((status == 0)) || break
done
printf '\n== time per suite\n'
printf '%s\n' "${report[@]}"
exit "$status"
