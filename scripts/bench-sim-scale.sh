#!/usr/bin/env bash
# scripts/bench-sim-scale.sh: the simulator at scale, against bare SimGrid.
#
# Runs scenarios/scale-100k.scn (100,000 nodes) with mesh-sim, then
# mesh-sim-ping, a bare SimGrid program with the same platform, node count,
# SimGrid settings and message count (and mean message size), one after the
# other, MESH_BENCH_RUNS times (default 3). Writes results/sim-scale.json
# and results/sim-scale.md with the medians: wall time, peak RSS, events and
# messages per wall second, and mesh-sim's message rate as a ratio of the
# bare one. Extra arguments go to both programs (e.g. --targets 10000 for a
# quicker look).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build/release >/dev/null
runs=${MESH_BENCH_RUNS:-3}
out=results/sim
mkdir -p "$out"
json() { grep -o "\"$2\": *\"\\?[^,}\"]*" "$1" | head -1 | sed 's/.*: *"\?//'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

mesh_wall=() mesh_run_wall=() mesh_rss=() mesh_rate=() mesh_events=()
ping_wall=() ping_rate=() ping_rss=() ratio=()
for i in $(seq 1 "$runs"); do
  echo "== run $i/$runs: mesh-sim scenarios/scale-100k.scn $*"
  /usr/bin/time -f '%e %M' -o "$out/scale-time.txt" \
    build/release/sim/mesh-sim scenarios/scale-100k.scn --out "$out" --no-progress "$@" \
    >"$out/scale-stdout.txt" || { cat "$out/scale-stdout.txt"; exit 1; }
  mesh_json=$out/scale-100k-seed1.json
  sent=$(json "$mesh_json" sent)
  bytes=$(json "$mesh_json" bytes)
  sim_ms=$(awk -v s="$(json "$mesh_json" simulated_s)" 'BEGIN {printf "%.0f", s * 1000}')
  nodes=$(json "$mesh_json" nodes)
  read -r w kb <"$out/scale-time.txt"
  mesh_wall+=("$w") mesh_rss+=("$((kb / 1024))")
  mesh_run_wall+=("$(json "$mesh_json" wall_s)")
  mesh_rate+=("$(json "$mesh_json" messages_per_wall_s)")
  mesh_events+=("$(json "$mesh_json" events_per_wall_s)")

  echo "== run $i/$runs: mesh-sim-ping, $nodes nodes, $sent messages of $((bytes / sent)) bytes"
  /usr/bin/time -f '%e %M' -o "$out/ping-time.txt" \
    build/release/sim/mesh-sim-ping scenarios/scale-100k.scn --messages "$sent" \
    --bytes "$((bytes / sent))" --duration "${sim_ms}ms" "$@" >"$out/ping.json"
  read -r w kb <"$out/ping-time.txt"
  ping_wall+=("$w") ping_rss+=("$((kb / 1024))")
  ping_rate+=("$(json "$out/ping.json" messages_per_wall_s)")
  ratio+=("$(awk -v a="${mesh_rate[-1]}" -v b="${ping_rate[-1]}" 'BEGIN {printf "%.3f", a / b}')")
  echo "   mesh-sim ${mesh_rate[-1]} msg/s, bare ${ping_rate[-1]} msg/s, ratio ${ratio[-1]}"
done

m() { echo "$@" | median; }
cat >results/sim-scale.json <<JSON
{
  "command": "scripts/bench-sim-scale.sh $*",
  "runs": $runs,
  "median": {
    "mesh_sim_wall_s": $(m "${mesh_wall[@]}"),
    "mesh_sim_run_wall_s": $(m "${mesh_run_wall[@]}"),
    "mesh_sim_peak_rss_mib": $(m "${mesh_rss[@]}"),
    "mesh_sim_messages_per_wall_s": $(m "${mesh_rate[@]}"),
    "mesh_sim_events_per_wall_s": $(m "${mesh_events[@]}"),
    "bare_wall_s": $(m "${ping_wall[@]}"),
    "bare_peak_rss_mib": $(m "${ping_rss[@]}"),
    "bare_messages_per_wall_s": $(m "${ping_rate[@]}"),
    "ratio": $(m "${ratio[@]}")
  },
  "each_run": {
    "mesh_sim_wall_s": [$(IFS=,; echo "${mesh_wall[*]}")],
    "mesh_sim_messages_per_wall_s": [$(IFS=,; echo "${mesh_rate[*]}")],
    "bare_messages_per_wall_s": [$(IFS=,; echo "${ping_rate[*]}")],
    "ratio": [$(IFS=,; echo "${ratio[*]}")]
  },
  "last_mesh_sim_run": $(cat "$mesh_json"),
  "last_bare_run": $(cat "$out/ping.json")
}
JSON
{
  echo "# mesh-sim at scale"
  echo
  echo "Command: \`scripts/bench-sim-scale.sh $*\`. Medians of $runs runs; each run is one"
  echo "mesh-sim run followed by one bare SimGrid run with the same platform, node"
  echo "count, SimGrid settings and message count, on this 2-core machine."
  echo
  echo "| | mesh-sim | bare SimGrid ping | goal |"
  echo "|---|---|---|---|"
  echo "| nodes | $nodes | $nodes | 100,000 |"
  echo "| wall time (whole process) | $(m "${mesh_wall[@]}") s | $(m "${ping_wall[@]}") s | < 300 s |"
  echo "| wall time (SimGrid run only) | $(m "${mesh_run_wall[@]}") s | | |"
  echo "| peak RSS | $(m "${mesh_rss[@]}") MiB | $(m "${ping_rss[@]}") MiB | < 8 GiB |"
  echo "| messages per wall second | $(m "${mesh_rate[@]}") | $(m "${ping_rate[@]}") | |"
  echo "| ratio mesh-sim / bare (per run: ${ratio[*]}) | **$(m "${ratio[@]}")** | | ≥ 0.5 |"
  echo "| events per wall second | $(m "${mesh_events[@]}") | | |"
  echo
  echo "mesh-sim's own summary of the last run:"
  echo
  sed -n '/^| |/,/^| trace/p' "$out/scale-stdout.txt"
} >results/sim-scale.md
cat results/sim-scale.md
