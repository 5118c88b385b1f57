#!/usr/bin/env bash
# scripts/sweep.sh: the consistency scenarios over many seeds.
#
#   scripts/sweep.sh [SEEDS] [mesh-sim flags...]
#
# Runs every scenario of the consistency contract (the list below) with
# seeds 1..SEEDS (default 50) and counts linearizability and durability
# violations. Writes results/sweep.json and results/sweep.md (sweep-unsafe.*
# when an --unsafe flag is given, MESH_SWEEP_NAME.* when that is set): per
# scenario, the seeds run, the simulated seconds covered, and every
# failing seed with the command that replays it. Exits 1 when any seed
# failed. Extra flags go to every run, e.g. `--unsafe no-leases` to show
# that the checks catch what the switched-off mechanism prevents (then a
# failure is the expected outcome). CI runs a smaller sweep
# (tests/sim_check.sh sweep).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-50}
shift || true
sim=${MESH_SIM:-build/release/sim/mesh-sim}
out=${MESH_SWEEP_OUT:-results}
name=sweep
case " $* " in *" --unsafe "*) name=sweep-unsafe ;; esac
name=${MESH_SWEEP_NAME:-$name}
scenarios=(split-brain-abc split-brain-client crash-mid-write two-failures flapping
	   asymmetric clock-drift faults transient-outage resync-loss failover drive-fail-spare
	   mgmt-down)

case $seeds in
'' | *[!0-9]*) echo "sweep: SEEDS must be a whole number, not '$seeds'" >&2; exit 2 ;;
esac
[ "$seeds" -ge 1 ] || { echo "sweep: SEEDS must be at least 1" >&2; exit 2; }
if [ -z "${MESH_SIM:-}" ]; then
	scripts/build.sh build/release >/dev/null
fi
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
json() { grep -o "\"$2\": *\"\\?[^,}\"]*" "$1" | head -1 | sed 's/.*: *"\?//'; }

mkdir -p "$out"
total_fail=0 total_runs=0 total_sim=0
rows="" jrows=""
for scn in "${scenarios[@]}"; do
	fails="" nfail=0 sim_s=0
	for seed in $(seq 1 "$seeds"); do
		set +e
		"$sim" "scenarios/$scn.scn" --seed "$seed" --out "$runs" --no-progress "$@" \
			>"$runs/stdout" 2>"$runs/stderr"
		rc=$?
		set -e
		[ $rc -le 1 ] || { cat "$runs/stderr" >&2; echo "sweep: $scn seed $seed could not run" >&2; exit 2; }
		sim_s=$(awk -v a="$sim_s" -v b="$(json "$runs/$scn-seed$seed.json" simulated_s)" \
			'BEGIN {printf "%.6f", a + b}')
		if [ $rc -eq 1 ]; then
			nfail=$((nfail + 1))
			what=$(grep -m1 -o "First [a-z]* violation" "$runs/stdout" || echo "failed")
			fails="$fails $seed"
			echo "$scn seed $seed: $what; $(grep -o 'rerun with .*' "$runs/stderr")"
		fi
	done
	total_fail=$((total_fail + nfail)) total_runs=$((total_runs + seeds))
	total_sim=$(awk -v a="$total_sim" -v b="$sim_s" 'BEGIN {printf "%.6f", a + b}')
	echo "$scn: $seeds seeds, $nfail failed, ${sim_s}s simulated"
	rows="$rows| $scn | $seeds | $sim_s | $nfail | ${fails:- none} |"$'\n'
	jrows="$jrows${jrows:+,}"$'\n'"    {\"scenario\": \"$scn\", \"seeds\": $seeds, \"simulated_s\": $sim_s, \"failed\": $nfail, \"failed_seeds\": [$(echo $fails | tr ' ' ',')]}"
done

flags="${*:-none}"
hours=$(awk -v s="$total_sim" 'BEGIN {printf "%.2f", s / 3600}')
cat >"$out/$name.json" <<EOF
{
  "seeds_per_scenario": $seeds,
  "flags": "$flags",
  "runs": $total_runs,
  "failed": $total_fail,
  "simulated_s": $total_sim,
  "scenarios": [$jrows
  ]
}
EOF
{
	echo "# Seed sweep of the consistency scenarios"
	echo
	echo "Command: \`scripts/sweep.sh $seeds${*:+ $*}\`"
	echo
	echo "$total_runs runs, $total_fail failed; ${total_sim}s (${hours} h) simulated."
	echo
	echo "| scenario | seeds | simulated s | failed | failing seeds |"
	echo "|---|---|---|---|---|"
	printf '%s' "$rows"
} >"$out/$name.md"
echo "sweep: $total_runs runs, $total_fail failed, ${hours} h simulated; see $out/$name.md"
[ $total_fail -eq 0 ]
