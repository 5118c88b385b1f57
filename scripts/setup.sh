#!/usr/bin/env bash
# scripts/setup.sh: install every Debian package mesh builds, tests or runs
# with. Idempotent and non-interactive; safe to run before every build.
# Also adds the deb-src entry that `apt-get source fio` (the fio engine's
# headers) needs.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config   # toolchain
  libisal-dev                                    # CRC32C (and erasure codes, later)
  libcmocka-dev                                  # unit tests
  clang libclang-rt-14-dev                       # libFuzzer and sanitizer runtimes
  libsimgrid-dev                                 # the simulator
  libfabric-dev libfabric-bin                    # libfabric transport
  libibverbs-dev librdmacm-dev rdma-core ibverbs-providers  # verbs transport
  liburing-dev                                   # io_uring drive back end
  fio dpkg-dev                                   # benchmarks; apt-get source fio
  gnuplot-nox jq                                 # plots of results/
  nbdkit                                         # NBD baseline (scripts/bench-datapath.sh)
)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi

need_update=0
src_list=/etc/apt/sources.list.d/mesh-deb-src.sources
if [ -f /etc/apt/sources.list.d/debian.sources ] && [ ! -f "$src_list" ] &&
   ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
   ! grep -qs '^deb-src' /etc/apt/sources.list; then
  echo "setup: adding deb-src entries ($src_list) for apt-get source"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    "${sudo[@]}" tee "$src_list" >/dev/null
  need_update=1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" -eq 1 ]; then
  echo "setup: apt-get update"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} packages already installed"
fi

# fio's headers for the fio engine: Debian's fio source, configured.
"$(dirname "$0")/fio-source.sh" "$(dirname "$0")/../build/fio-src"
