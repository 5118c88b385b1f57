#!/usr/bin/env bash
# scripts/bench-sim-scale.sh: the simulator at scale, against bare SimGrid.
#
# Runs scenarios/scale-100k.scn (100,000 nodes) with mesh-sim, then
# mesh-sim-ping, a bare SimGrid program with the same platform, node count,
# SimGrid settings and message count (and mean message size), in the same
# run. Writes results/sim-scale.json and results/sim-scale.md: wall time,
# peak RSS, events and messages per wall second, and mesh-sim's message
# rate as a ratio of the bare one. Extra arguments go to both programs
# (e.g. --targets 10000 for a quicker look).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build/release >/dev/null
out=results/sim
mkdir -p "$out"
json() { grep -o "\"$2\": *\"\\?[^,}\"]*" "$1" | head -1 | sed 's/.*: *"\?//'; }

echo "== mesh-sim scenarios/scale-100k.scn $*"
/usr/bin/time -f '%e %M' -o "$out/scale-time.txt" \
  build/release/sim/mesh-sim scenarios/scale-100k.scn --out "$out" --no-progress "$@" \
  >"$out/scale-stdout.txt" || { cat "$out/scale-stdout.txt"; exit 1; }
mesh_json=$out/scale-100k-seed1.json
sent=$(json "$mesh_json" sent)
bytes=$(json "$mesh_json" bytes)
sim_s=$(json "$mesh_json" simulated_s)
nodes=$(json "$mesh_json" nodes)
read -r mesh_wall_total mesh_rss_kb <"$out/scale-time.txt"

echo "== mesh-sim-ping: $nodes nodes, $sent messages of $((bytes / sent)) bytes"
/usr/bin/time -f '%e %M' -o "$out/ping-time.txt" \
  build/release/sim/mesh-sim-ping scenarios/scale-100k.scn --messages "$sent" \
  --bytes "$((bytes / sent))" --duration "$(printf '%.0fms' "$(echo "$sim_s * 1000" | bc)")" "$@" \
  >"$out/ping.json"
read -r ping_wall_total ping_rss_kb <"$out/ping-time.txt"

mesh_rate=$(json "$mesh_json" messages_per_wall_s)
ping_rate=$(json "$out/ping.json" messages_per_wall_s)
ratio=$(echo "scale=3; $mesh_rate / $ping_rate" | bc)
cat >results/sim-scale.json <<JSON
{
  "command": "scripts/bench-sim-scale.sh $*",
  "mesh_sim": $(cat "$mesh_json"),
  "mesh_sim_process": {"wall_s": $mesh_wall_total, "peak_rss_kb": $mesh_rss_kb},
  "bare_simgrid_ping": $(cat "$out/ping.json"),
  "bare_simgrid_process": {"wall_s": $ping_wall_total, "peak_rss_kb": $ping_rss_kb},
  "messages_per_s_ratio": $ratio
}
JSON
{
  echo "# mesh-sim at scale"
  echo
  echo "Command: \`scripts/bench-sim-scale.sh $*\` (one run of each program, same machine, one after the other)."
  echo
  echo "| | mesh-sim | bare SimGrid ping | goal |"
  echo "|---|---|---|---|"
  echo "| nodes | $nodes | $(json "$out/ping.json" nodes) | 100,000 |"
  echo "| simulated time | ${sim_s} s | same span | |"
  echo "| wall time (whole process) | ${mesh_wall_total} s | ${ping_wall_total} s | < 300 s |"
  echo "| wall time (SimGrid run only) | $(json "$mesh_json" wall_s) s | $(json "$out/ping.json" wall_s) s | |"
  echo "| peak RSS | $((mesh_rss_kb / 1024)) MiB | $((ping_rss_kb / 1024)) MiB | < 8 GiB |"
  echo "| messages | $sent | $(json "$out/ping.json" messages_sent) | |"
  echo "| messages per wall second | $mesh_rate | $ping_rate | ratio ≥ 0.5 |"
  echo "| ratio mesh-sim / bare | **$ratio** | | ≥ 0.5 |"
  echo "| events per wall second | $(json "$mesh_json" events_per_wall_s) | | |"
  echo
  echo "mesh-sim's own summary:"
  echo
  sed -n '/^| |/,/^| trace/p' "$out/scale-stdout.txt"
} >results/sim-scale.md
cat results/sim-scale.md
