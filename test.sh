#!/usr/bin/env bash
# Runs every test project and ends with one summary line: "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet test Sandgrain.slnx "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-assembly lines: "Passed!  - Failed:     0, Passed:    58, Skipped:     0, Total: ..."
read -r failed passed skipped < <(grep -E '^(Passed|Failed)!' "$log" | awk -F'[:,]' '
  { f += $2; p += $4; s += $6 } END { printf "%d %d %d\n", f, p, s }')
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"

if [ "${passed:-0}" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
