#!/usr/bin/env bash
# scripts/build.sh DIR [cmake options...]: configure and build mesh in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
  cat "$dir.configure.log"
  exit 1
}
grep -E '^(-- mesh:|CMake Warning|  mesh:)' "$dir.configure.log" || true
cmake --build "$dir" --parallel "$(nproc)"
