#!/usr/bin/env bash
# scripts/fio-source.sh DIR: fio 3.33's source, configured, in DIR/fio-3.33,
# for the fio engine's headers (fio-engine/). Takes Debian's own source
# package (apt-get source fio, which needs the deb-src entry setup.sh adds)
# so the headers match the /usr/bin/fio the engine is loaded into.
# Does nothing when DIR already holds it.
set -euo pipefail
dir=$1
src="$dir/fio-3.33"
if [ -f "$src/config-host.h" ]; then
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
echo "fio-source: apt-get source fio into $dir"
apt-get source -q fio >fio-source.log 2>&1 || {
  cat fio-source.log
  echo "fio-source: apt-get source fio failed (is there a deb-src entry? scripts/setup.sh adds one)"
  exit 1
}
[ -d fio-3.33 ] || { echo "fio-source: expected fio-3.33/ from apt-get source; got: $(ls)"; exit 1; }
cd fio-3.33
./configure >../fio-configure.log 2>&1 || { cat ../fio-configure.log; exit 1; }
echo "fio-source: fio 3.33 headers ready in $src"
