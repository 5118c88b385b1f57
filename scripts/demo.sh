#!/usr/bin/env bash
# scripts/demo.sh: set up, build, and run the in-process cluster demo.
# Extra arguments go to mesh-demo (e.g. --seed 7).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
scripts/build.sh build/release >/dev/null
build/release/apps/mesh-demo "$@"
