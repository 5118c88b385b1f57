#!/usr/bin/env bash
# scripts/demo.sh: set up, build, and run mesh for real on this machine.
#   1. starts four meshd targets on loopback, each serving a drive file in
#      /dev/shm, from one cluster file (build/demo/cluster.conf);
#   2. writes a striped and mirrored volume with fio through the mesh engine
#      (4 jobs, each its own client, verify=crc32c reads every block back),
#      then measures 4 KiB random reads at queue depth 1;
#   3. kills one target with SIGKILL while fio reads, shows the reads going
#      on from the surviving copies and fio writing and verifying the volume
#      with the target down, then restarts it (it resyncs what it missed);
#   4. stops the cluster with SIGTERM and checks every daemon stopped cleanly.
# MESH_DEMO_PORT picks the first of four ports (default 17400).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
scripts/build.sh build/release >/dev/null

bin=$PWD/build/release
run=$PWD/build/demo
port=${MESH_DEMO_PORT:-17400}
targets=4
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f /dev/shm/mesh-demo-t*.img
}
trap cleanup EXIT

rm -rf "$run" && mkdir -p "$run"
{
  echo "# four targets on loopback, one rack each, a 256 MiB drive file each"
  echo "cluster lease=1s io_timeout=4s heartbeat=100ms heartbeat_timeout=600ms"
  for t in $(seq 0 $((targets - 1))); do
    echo "target $t addr=127.0.0.1:$((port + t)) rack=$t meta=$run/meta-t$t"
  done
  for t in $(seq 0 $((targets - 1))); do
    echo "drive $t path=/dev/shm/mesh-demo-t$t.img size=256MiB"
  done
  echo "volume demo layout=stripe-mirror size=256MiB width=2 copies=2 stripe_unit=64KiB"
} >"$run/cluster.conf"
echo "== cluster file ($run/cluster.conf)"
cat "$run/cluster.conf"

start_target() {
  local t=$1
  "$bin/apps/meshd" --config "$run/cluster.conf" --target "$t" >>"$run/meshd-t$t.log" 2>&1 &
  pids[t]=$!
  for _ in $(seq 100); do
    grep -q "serving" "$run/meshd-t$t.log" && return 0
    kill -0 "${pids[t]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "demo: meshd target $t did not start:"
  cat "$run/meshd-t$t.log"
  exit 1
}

echo "== starting $targets meshd targets"
for t in $(seq 0 $((targets - 1))); do start_target "$t"; done
grep -h "drive 0\|serving" "$run"/meshd-t*.log

export LD_LIBRARY_PATH="$bin/fio-engine${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fio_mesh() {
  fio --ioengine=mesh --cluster="$run/cluster.conf" --volume=demo --bs=4k "$@"
}

echo
echo "== fio: 4 jobs write 64 MiB each at queue depth 16, then verify every block (crc32c)"
fio_mesh --name=write-verify --rw=randwrite --iodepth=16 --numjobs=4 --size=64M \
  --offset_increment=64M --verify=crc32c --do_verify=1 --group_reporting \
  --output="$run/fio-write.txt"
grep -E "^ *(write|read):|err=|verify" "$run/fio-write.txt"

echo
echo "== fio: 4 KiB random reads at queue depth 1 for 5 s"
fio_mesh --name=randread-qd1 --rw=randread --iodepth=1 --time_based --runtime=5 \
  --lat_percentiles=1 --output-format=json --output="$run/fio-read.json"
jq -r '.jobs[0].read | "read: \(.iops | floor) IOPS, latency p50 \(.lat_ns.percentile["50.000000"] / 1000) us, p99 \(.lat_ns.percentile["99.000000"] / 1000) us"' \
  "$run/fio-read.json"

echo
victim=$((targets - 1))
echo "== SIGKILL target $victim while fio reads; reads go on from the surviving copies"
fio_mesh --name=read-through-failure --rw=randread --iodepth=8 --time_based --runtime=4 \
  --output-format=json --output="$run/fio-failure.json" &
fio_pid=$!
sleep 1
kill -KILL "${pids[victim]}"
echo "killed target $victim (pid ${pids[victim]})"
wait "$fio_pid" || { cat "$run/fio-failure.json"; echo "demo: reads failed across the target's death"; exit 1; }
jq -r '.jobs[0] | "read: \(.read.total_ios) reads, \(.error) errors, longest \(.read.lat_ns.max / 1e6) ms (the failover)"' \
  "$run/fio-failure.json"
grep -h "suspects\|committed" "$run"/meshd-t*.log | tail -4
echo "== with target $victim down: 4 jobs write and verify 16 MiB each on the copies left"
fio_mesh --name=degraded-write-verify --rw=randwrite --iodepth=16 --numjobs=4 --size=16M \
  --offset_increment=64M --verify=crc32c --do_verify=1 --group_reporting \
  --output="$run/fio-degraded.txt"
grep -E "^ *(write|read):|err=" "$run/fio-degraded.txt"
echo "== restarting target $victim: its groups take it back once it has been heard for a round"
start_target "$victim"
groups=$(sed -n 's/.*toma: group \([0-9]*\): resumed.*/\1/p' "$run/meshd-t$victim.log")
rebuilt=1
for g in $groups; do
  # stale (epoch 2), rebuilding (3), resynced and active again (4)
  back=0
  for _ in $(seq 300); do
    grep -qE "group $g: epoch ([4-9]|[1-9][0-9]+)$" "$run/meshd-t$victim.log" && back=1 && break
    sleep 0.1
  done
  grep -hE "group $g: epoch [0-9]+$" "$run/meshd-t$victim.log" | tail -3
  if [ "$back" -eq 0 ]; then
    echo "demo: group $g: target $victim is still rebuilding after 30 s (resync did not finish)"
    rebuilt=0
  fi
done
sleep 0.5
grep -h "resync:" "$run"/meshd-t*.log || true
[ "$rebuilt" -eq 1 ] || { echo "demo: a rebuild did not finish (logs: $run/meshd-t*.log)"; exit 1; }
echo
echo "== stopping the cluster (SIGTERM)"
for t in $(seq 0 $((targets - 1))); do kill -TERM "${pids[t]}"; done
clean=0
for t in $(seq 0 $((targets - 1))); do
  if wait "${pids[t]}" && grep -q "stopped cleanly" "$run/meshd-t$t.log"; then
    clean=$((clean + 1))
  fi
done
pids=()
echo "$clean of $targets targets stopped cleanly (logs: $run/meshd-t*.log)"
[ "$clean" -eq "$targets" ]
