#!/usr/bin/env bash
# scripts/bench-heartbeats.sh: heartbeat messages per target per second
# against cluster size.
#
#   scripts/bench-heartbeats.sh [SEEDS]
#
# Runs scenarios/scale-100k.scn (mirrored stripes placed by copysets across
# racks, a rack crash and a partition) at 1,000, 10,000 and 100,000 targets,
# at two densities: sparse, one volume per 4 targets (2 segment replicas per
# target, as the 100k scenario has it), and dense, one volume per target
# (8 replicas per target; not run at 100,000, which needs more memory than
# this machine has). Clients grow with volumes (25 volumes each) and racks
# with targets. Seeds 1..SEEDS (default 3); medians. Writes
# results/heartbeats.json and results/heartbeats.md. Exits 1 if any run
# fails its checks.
set -euo pipefail
cd "$(dirname "$0")/.."
name=bench-heartbeats
. scripts/sim-bench-lib.sh

rows="" jrows=""
run() { # DENSITY TARGETS VOLUMES
	local density=$1 targets=$2 volumes=$3 racks hbs=() peers=() maxes=() walls=()
	racks=$((targets / 40 > 200 ? targets / 40 : 200))
	for seed in $(seq 1 "$seeds"); do
		run_seed scenarios/scale-100k.scn "$seed" "$targets targets, $density" \
			--targets "$targets" --racks "$racks" --volumes "$volumes" \
			--clients "$((volumes / 25))"
		j=$work/scale-100k-seed$seed.json
		hbs+=("$(json "$j" per_target_per_s)") peers+=("$(json "$j" peers_mean)")
		maxes+=("$(json "$j" peers_max)") walls+=("$(json "$j" wall_s)")
	done
	local hb peer max wall
	hb=$(echo "${hbs[@]}" | median) peer=$(echo "${peers[@]}" | median)
	max=$(echo "${maxes[@]}" | tr ' ' '\n' | sort -g | tail -1) wall=$(echo "${walls[@]}" | median)
	echo "$targets targets, $density: $hb heartbeats per target per second (peers mean $peer, max $max)"
	rows="$rows| $targets | $density ($volumes volumes) | $hb | $peer | $max | $wall |"$'\n'
	jrows="$jrows${jrows:+,}"$'\n'"    {\"targets\": $targets, \"density\": \"$density\", \"volumes\": $volumes, \"racks\": $racks, \"heartbeats_per_target_s\": $hb, \"peers_mean\": $peer, \"peers_max\": $max, \"wall_s\": $wall}"
}
for t in 1000 10000 100000; do run sparse "$t" "$((t / 4))"; done
for t in 1000 10000; do run dense "$t" "$t"; done

mkdir -p results
cat >results/heartbeats.json <<EOF2
{
  "command": "scripts/bench-heartbeats.sh $seeds",
  "scenario": "scenarios/scale-100k.scn",
  "seeds": $seeds,
  "heartbeat_interval_ms": 250,
  "statistic": "median over seeds; peers_max is the max over seeds",
  "rows": [$jrows
  ]
}
EOF2
cat >results/heartbeats.md <<EOF2
# Heartbeat messages per target per second against cluster size

\`scripts/bench-heartbeats.sh $seeds\` runs \`scenarios/scale-100k.scn\`
(mirrored stripes, 2 copies × 4 wide, placed by copysets across racks; a
rack crash and a partition; heartbeat every 250 ms) with the target,
rack, client and volume counts changed, seeds 1..$seeds, medians. A
target heartbeats only the other members of the protection groups it
holds a replica of, and copyset placement bounds those peers (at most 4
here), so the rate is set by how many replicas a target holds, not by
how many targets there are. Every run passed its linearizability and
durability checks.

| targets | density | heartbeats per target per second | peers, mean | peers, max | wall time of one run (s) |
|---|---|---|---|---|---|
$rows
Dense at 100,000 targets (100,000 volumes) is not run: 10,000 dense took
about 2.3 GB and the simulator grows linearly, past what this machine can
spare.
EOF2
echo "wrote results/heartbeats.md and results/heartbeats.json"
