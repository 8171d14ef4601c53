#!/usr/bin/env bash
# Builds and runs the C IPC baseline. stdout carries only result lines;
# compiler diagnostics and errors go to stderr.
# Usage: run.sh [build-dir]   (default: <repo>/bench/out, which is git-ignored)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

gcc -O2 -pthread -Wall -Wextra -o "$out/baseline" "$here/baseline.c" >&2

"$out/baseline"
