#!/usr/bin/env bash
# Runs the benchmark of bench/CONTRACT.md: the machine's C baseline, then each transport, in one run,
# and ends with the ratios of ours to the baseline measured in the same run.
#   bench/run.sh [transport...]     (default: every transport available here)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$here/out"
mkdir -p "$out"

transports=("$@")
if [ ${#transports[@]} -eq 0 ]; then
  transports=(unix shm shm-nospin)
  # The Mach transport exists on macOS only.
  [ "$(uname -s)" = Darwin ] && transports+=(mach)
fi

echo "# build: Release" >&2
dotnet build "$root/bench/Sandgrain.Bench" -c Release -o "$out/dotnet" -v quiet -nologo >&2

results="$out/results.txt"
: > "$results"

# Each measured step runs through `step`: one that fails (a crash, a timeout) is reported with its exit code and the
# rest of the run goes on; the run then ends non-zero, listing what failed.
failed=()
step() {
  local name=$1; shift
  local status=0
  "$@" | tee -a "$results" || status=$?
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && why="timed out" || why="exit $status"
    echo "# FAILED: $name ($why); the run goes on without its figures" >&2
    failed+=("$name ($why)")
  fi
}
if [ "$(uname -s)" = Linux ]; then
  echo "# C baseline" >&2
  step "C baseline" bash "$here/baseline/run.sh" "$out"
else
  # The baseline's futex ping-pong is Linux-only; elsewhere the figures print without ratios.
  echo "# C baseline skipped: it needs Linux (futex)" >&2
fi
for t in "${transports[@]}"; do
  echo "# transport: $t" >&2
  step "transport $t" timeout 300 "$out/dotnet/Sandgrain.Bench" transport --transport "$t"
done

for t in "${transports[@]}"; do
  case "$t" in
    unix|shm)
      echo "# actors: $t" >&2
      step "actors $t" timeout 300 "$out/dotnet/Sandgrain.Bench" actors --transport "$t" ;;
  esac
done

# The same actor workloads with the echo helper published as NativeAOT (the client stays JIT, like an app).
if command -v clang >/dev/null; then
  echo "# publish: NativeAOT echo helper" >&2
  rid=$(dotnet --info | awk '/^ *RID:/ { print $2; exit }')
  if dotnet publish "$root/bench/Sandgrain.Bench" -c Release -r "$rid" -p:SandgrainAot=true -o "$out/aot" -v quiet -nologo >&2; then
    for t in "${transports[@]}"; do
      case "$t" in
        unix|shm)
          echo "# actors: $t, NativeAOT helper" >&2
          step "actors $t, NativeAOT helper" timeout 300 "$out/dotnet/Sandgrain.Bench" actors --transport "$t" --helper-exe "$out/aot/Sandgrain.Bench" ;;
      esac
    done
  else
    echo "# FAILED: NativeAOT publish; the NativeAOT lines are missing from this run" >&2
    failed+=("NativeAOT publish")
  fi
else
  echo "# NativeAOT lines skipped: clang is not installed (apt-get install -y clang zlib1g-dev)" >&2
fi

echo "# launch alone" >&2
step "launch alone" timeout 120 "$out/dotnet/Sandgrain.Bench" launch

echo "# ratios (ours / C baseline, same run)"
awk '
  { delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    key = f["peer"] "|" f["workload"] "|" f["unit"]
    if (f["peer"] == "c-memcpy") key = key "|" f["note"]
    if (f["peer"] == "c-kill-eof") key = key "|" (f["note"] ~ /,1MiB-touched/ ? "threads-only" : "helper-sized-heap")
    v[key] = f["value"] }
  END {
    for (k in v) {
      split(k, p, "|")
      if (p[1] !~ /^sandgrain-/) continue
      base = ""
      if (p[1] == "sandgrain-transport-unix" && p[2] == "W1") base = "c-uds|W1|" p[3]
      if (p[1] == "sandgrain-transport-unix" && p[2] == "W3") base = "c-uds|W3|MB_per_s"
      if (p[1] == "sandgrain-transport-shm" && p[2] == "W1") base = "c-shm-spin|W1|" p[3]
      if (p[1] == "sandgrain-transport-shm-nospin" && p[2] == "W1") base = "c-shm-futex|W1|" p[3]
      if (p[1] ~ /^sandgrain-transport-shm/ && p[2] == "W3") base = "c-memcpy|W3|MB_per_s|from-memory"
      if (p[1] == "sandgrain-unix" && p[2] == "W1") base = "c-uds|W1|" p[3]
      if (p[1] == "sandgrain-shm" && p[2] == "W1") base = "c-shm-spin|W1|" p[3]
      if (p[1] ~ /^sandgrain-(unix|shm)/ && p[2] == "FAIL") base = "c-kill-eof|FAIL|us|threads-only"
      if (p[1] ~ /^sandgrain-shm/ && p[2] == "W3") base = "c-memcpy|W3|MB_per_s|from-memory"
      if (p[1] ~ /^sandgrain-unix/ && p[2] == "W3") base = "c-uds|W3|MB_per_s"
      if (base != "" && (base in v) && v[base] > 0) { split(base, b, "|"); printf "ratio %s %s %s: %.2f (ours %s, %s %s)\n", p[1], p[2], p[3], v[k] / v[base], v[k], b[1], v[base] }
    }
  }' "$results" | sort

if [ ${#failed[@]} -gt 0 ]; then
  echo "# run incomplete: ${#failed[@]} step(s) failed:" >&2
  printf '#   %s\n' "${failed[@]}" >&2
  exit 1
fi
