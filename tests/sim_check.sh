#!/usr/bin/env bash
# tests/sim_check.sh: end-to-end checks of mesh-sim, run by ctest.
#
#   sim_check.sh MESH_SIM SCENARIO_DIR CHECK
#
# CHECK is one of:
#   determinism  same seed twice gives one trace hash; another seed differs
#   faults       every fault kind leaves its mark, and the checks pass
#   bad-input    malformed scenarios and flags fail with file:line errors
#   scale        the scale scenario at 2,000 nodes completes and passes
#   teeth        with leases and fencing off, resync, or the settle check of
#                reads ahead of the tail, a real run reads stale data and is
#                caught
#   sweep        the consistency scenarios over two seeds pass (scripts/sweep.sh)
set -euo pipefail

sim=$1
scn=$2
check=$3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# json FILE KEY: the first number or string after "KEY": in FILE.
json() { grep -o "\"$2\": *\"\\?[^,}\"]*" "$1" | head -1 | sed 's/.*: *"\?//'; }
run() { "$sim" "$@" --out "$out" --no-progress > "$out/stdout" 2> "$out/stderr"; }

# SCENARIO seed 1 passes and its report matches PATTERN (it did the work);
# with --unsafe no-resync it fails, names its flags and shows the loss.
caught_without_copy() {
	run "$scn/$1.scn" --seed 1 || fail "$1 seed 1 failed: $(tail -3 "$out/stderr")"
	grep -q "$2" "$out/stdout" || fail "$1 did not do its work: no '$2'"
	set +e
	run "$scn/$1.scn" --seed 1 --unsafe no-resync
	local rc=$?
	set -e
	[ $rc -eq 1 ] || fail "$1 without resync exited $rc, expected a violation"
	grep -q "rerun with .mesh-sim .*$1.scn --seed 1 --unsafe no-resync" "$out/stderr" ||
		fail "the $1 no-resync failure does not print its flags"
	grep "First durability" "$out/stdout"
}

# caught_in_some_seed SCENARIO N WORK VIOLATION FLAGS...: seeds 1..N of
# SCENARIO pass and their report matches WORK (if not empty); with FLAGS
# (one mechanism switched off) some seed fails with exit 1, a report
# matching VIOLATION and the rerun command naming the seed and FLAGS.
# Several seeds rather than one, so the test does not hang on one
# trajectory.
caught_in_some_seed() {
	local name=$1 seeds=$2 work=$3 violation=$4 caught="" seed rc
	shift 4
	for seed in $(seq 1 "$seeds"); do
		run "$scn/$name.scn" --seed "$seed" || fail "$name seed $seed: $(tail -3 "$out/stderr")"
		[ -z "$work" ] || grep -q "$work" "$out/stdout" ||
			fail "$name seed $seed did not do its work: no '$work'"
		set +e
		run "$scn/$name.scn" --seed "$seed" "$@"; rc=$?
		set -e
		[ $rc -eq 0 ] && continue
		[ $rc -eq 1 ] || fail "$name seed $seed with $* exited $rc"
		grep -q "$violation" "$out/stdout" || continue
		grep -q "rerun with .mesh-sim .*$name.scn --seed $seed $*" "$out/stderr" ||
			fail "$name seed $seed: the failure does not print the scenario, seed and flags"
		grep "First linearizability" "$out/stdout"
		caught="$caught $seed"
	done
	[ -n "$caught" ] || fail "no seed of 1-$seeds of $name caught a violation with $*"
	echo "caught in $name with $*: seeds$caught"
}

case $check in
determinism)
	run "$scn/smoke.scn" --seed 7 || fail "smoke seed 7: $(cat "$out/stderr")"
	mv "$out/smoke-seed7.json" "$out/a.json"
	run "$scn/smoke.scn" --seed 7 || fail "smoke seed 7 again"
	run "$scn/smoke.scn" --seed 8 || fail "smoke seed 8"
	a=$(json "$out/a.json" trace_hash)
	b=$(json "$out/smoke-seed7.json" trace_hash)
	c=$(json "$out/smoke-seed8.json" trace_hash)
	echo "seed 7: $a, seed 7 again: $b, seed 8: $c"
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "one seed gave two traces: $a $b"
	[ "$a" != "$c" ] || fail "two seeds gave one trace: $a"
	cmp -s <(grep -v wall_s "$out/a.json" | grep -v '"rates"' | grep -v peak_rss) \
	       <(grep -v wall_s "$out/smoke-seed7.json" | grep -v '"rates"' | grep -v peak_rss) ||
		fail "one seed gave two different results"
	;;
faults)
	run "$scn/faults.scn" --seed 3 || fail "faults: $(tail -3 "$out/stderr")"
	f=$out/faults-seed3.json
	for key in dropped_partition dropped_loss dropped_node_down duplicated delayed \
		   reads_failed writes_failed verify_reads; do
		v=$(json "$f" "$key")
		echo "$key: $v"
		[ "${v:-0}" -gt 0 ] || fail "$key is ${v:-missing}: that fault left no mark"
	done
	[ "$(json "$f" passed)" = true ] || fail "checks failed: $(cat "$out/stdout")"
	;;
bad-input)
	printf 'duration 1s\ntopology targets=4 racks=2 drives=1 drive_bytes=1GiB\nvolume name=v kind=mirror size=1MiB widht=2\n' > "$out/bad.scn"
	set +e
	"$sim" "$out/bad.scn" --out "$out" > /dev/null 2> "$out/err"; rc=$?
	set -e
	echo "exit $rc: $(cat "$out/err")"
	[ $rc -eq 2 ] || fail "a malformed scenario exited $rc, not 2"
	grep -q "bad.scn:3: unknown key \"widht\"" "$out/err" || fail "no file:line in the error"
	set +e
	"$sim" "$scn/smoke.scn" --seed x --out "$out" 2> "$out/err"; rc=$?
	set -e
	[ $rc -eq 2 ] && grep -q -- "--seed x" "$out/err" || fail "a bad --seed was not refused"
	set +e
	"$sim" "$scn/smoke.scn" --targets 1 --out "$out" 2> "$out/err"; rc=$?
	set -e
	echo "exit $rc: $(cat "$out/err")"
	[ $rc -eq 2 ] && grep -q "smoke.scn:[0-9]*:" "$out/err" || fail "--targets 1 was not refused with a line"
	# Valid for the format, but not whole 4 KiB blocks: the simulator says so.
	printf 'duration 100ms\ntopology targets=3 clients=1 racks=3 drives=1 drive_bytes=1GiB\nvolume name=v kind=mirror size=1MiB copies=2\nworkload bs=6KiB qd=1\n' > "$out/bs.scn"
	set +e
	"$sim" "$out/bs.scn" --out "$out" > /dev/null 2> "$out/err"; rc=$?
	set -e
	echo "exit $rc: $(head -1 "$out/err")"
	[ $rc -eq 2 ] && grep -q "bs.scn:4: .*4 KiB" "$out/err" || fail "bs=6KiB was not refused with its line"
	;;
scale)
	run "$scn/scale-100k.scn" --targets 2000 --clients 500 --racks 250 ||
		fail "scale at 2,000 nodes: $(tail -3 "$out/stderr")"
	cat "$out/stdout"
	;;
teeth)
	# With the topology manager every seed of faults.scn passes; with
	# leases and epoch fencing switched off some seed must be caught on
	# the mirrored volume (volume 2).
	caught_in_some_seed faults 8 "" "linearizability violation (volume 2, block" \
		--unsafe no-leases --unsafe no-fencing
	# Resync: the rolling restart passes, and so does the move of a
	# failed drive's replicas to spares; marking rebuilt replicas active
	# without copying them what they lack must be caught.
	caught_without_copy transient-outage "rebuilds done (whole segment; aborted) | [1-9]"
	caught_without_copy drive-fail-spare "replicas moved to spares; not active at the end | [1-9][0-9]*; 0 |"
	# Reads from any active copy: smoke passes with replicas ahead of the
	# tail answering reads; when they answer without looking at unsettled
	# writes, some seed must show a value and then an older one.
	caught_in_some_seed smoke 6 "reads answered ahead of the tail; sent on to the tail | [1-9][0-9]*; [1-9]" \
		"First linearizability violation" --unsafe no-settle-check
	;;
sweep)
	# Every consistency scenario (scripts/sweep.sh) over two seeds: no
	# linearizability or durability violation.
	MESH_SIM=$sim MESH_SWEEP_OUT=$out "$scn/../scripts/sweep.sh" 2 ||
		fail "the sweep found violations"
	;;
*)
	fail "unknown check $check"
	;;
esac
echo "ok: $check"
