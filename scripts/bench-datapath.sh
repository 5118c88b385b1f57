#!/usr/bin/env bash
# scripts/bench-datapath.sh: the real data path against local storage and NBD.
#
#   scripts/bench-datapath.sh
#
# With fio, 4 KiB blocks, every backing file in /dev/shm, it measures:
#   - local: psync at QD1 (randread, randwrite) and io_uring at QD32
#     (randread, randwrite) directly on a /dev/shm file;
#   - mesh (fio's mesh engine, build/release/fio-engine) over each
#     transport: tcp, libfabric's tcp provider (fabric:tcp) and its shm
#     provider (fabric:shm): a single-copy volume (layout=concat, 1 target)
#     and a 2-copy mirror (layout=mirror copies=2, 3 targets: 2 replicas
#     and a witness). Over fabric, reads are one-sided (the client reads
#     the tail's drive memory with RMA, docs/toma.md); the single copy is
#     measured a second time with --one_sided=0 (every read two-sided)
#     to show what that changes;
#   - NBD: nbdkit's file plugin on loopback TCP, fio's nbd engine.
# QD1: p50/p99 of fio's total latency (lat, --lat_percentiles=1). QD32: IOPS,
# and the servers' CPU time per I/O (utime+stime of meshd or nbdkit from
# /proc/PID/stat around the run, divided by the I/O count).
# Each run starts from fresh files (and fresh targets), writes the region
# first so reads hit written data, then runs each measure for
# MESH_BENCH_SECONDS (default 5). MESH_BENCH_RUNS runs (default 3); medians
# over the runs. MESH_BENCH_PORT is the first of the ports used (default
# 18400; it uses PORT..PORT+3 and PORT+10). Writes results/datapath.json,
# results/datapath.md and results/datapath-latency.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
name=bench-datapath
runs=${MESH_BENCH_RUNS:-3}
secs=${MESH_BENCH_SECONDS:-5}
port=${MESH_BENCH_PORT:-18400}
size_mib=${MESH_BENCH_SIZE_MIB:-128}
for v in "$runs" "$secs" "$port" "$size_mib"; do
	case $v in '' | *[!0-9]* | 0) echo "$name: runs, seconds, port and size must be whole numbers >= 1" >&2; exit 2 ;; esac
done
command="scripts/bench-datapath.sh"
[ "$runs" = 3 ] || command="MESH_BENCH_RUNS=$runs $command"
[ "$secs" = 5 ] || command="MESH_BENCH_SECONDS=$secs $command"
started=$(date +%s)

bin=$PWD/build/release
if [ ! -x "$bin/apps/meshd" ] || [ ! -e "$bin/fio-engine/libfio_mesh.so" ]; then
	scripts/build.sh build/release >/dev/null
fi
for tool in fio jq gnuplot; do
	command -v "$tool" >/dev/null || { echo "$name: $tool missing: run scripts/setup.sh" >&2; exit 2; }
done
export LD_LIBRARY_PATH="$bin/fio-engine${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

for p in "$port" $((port + 1)) $((port + 2)) $((port + 3)) $((port + 10)); do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "$name: port $p is in use; set MESH_BENCH_PORT" >&2
		exit 2
	fi
done

work=$PWD/build/bench-datapath
shm=/dev/shm/mesh-bench-dp-$$
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$shm"
}
trap cleanup EXIT
rm -rf "$work" && mkdir -p "$work"
vals=$work/values.tsv # run setup measure value
: >"$vals"
notes=$work/notes.txt
: >"$notes"

record() { printf '%s\t%s\t%s\t%s\n' "$run" "$1" "$2" "$3" >>"$vals"; }
ticks=$(getconf CLK_TCK)
cpu_ticks() { # summed utime+stime of the given pids
	local t=0 pid
	for pid in "$@"; do
		t=$((t + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
	done
	echo "$t"
}

# measure SETUP FIO-ARGS...: the QD1 and QD32 measures for one setup.
# $qd1_engine/$qd32_engine are extra fio args per depth; $server_pids are
# the processes whose CPU time is counted.
measure() {
	local setup=$1 rw dir out c0 c1 ios
	shift
	for rw in randread randwrite; do
		dir=${rw#rand}
		out=$work/$setup-run$run-qd1-$rw.json
		fio --name="$setup-qd1-$rw" "$@" $qd1_engine --rw="$rw" --iodepth=1 --bs=4k \
			--time_based --runtime="$secs" --lat_percentiles=1 \
			--output-format=json --output="$out" >/dev/null
		record "$setup" "qd1_${rw}_p50_us" "$(jq ".jobs[0].$dir.lat_ns.percentile[\"50.000000\"] / 1000" "$out")"
		record "$setup" "qd1_${rw}_p99_us" "$(jq ".jobs[0].$dir.lat_ns.percentile[\"99.000000\"] / 1000" "$out")"
		[ "$(jq '.jobs[0].error' "$out")" = 0 ] || echo "$setup run $run qd1 $rw: fio error" >>"$notes"
	done
	for rw in randread randwrite; do
		dir=${rw#rand}
		out=$work/$setup-run$run-qd32-$rw.json
		c0=$(cpu_ticks $server_pids)
		fio --name="$setup-qd32-$rw" "$@" $qd32_engine --rw="$rw" --iodepth=32 --bs=4k \
			--time_based --runtime="$secs" --output-format=json --output="$out" >/dev/null
		c1=$(cpu_ticks $server_pids)
		ios=$(jq ".jobs[0].$dir.total_ios" "$out")
		record "$setup" "qd32_${rw}_iops" "$(jq ".jobs[0].$dir.iops | floor" "$out")"
		if [ -n "$server_pids" ]; then
			record "$setup" "qd32_${rw}_server_cpu_us_per_io" \
				"$(awk -v d=$((c1 - c0)) -v t="$ticks" -v n="$ios" 'BEGIN {printf "%.2f", n ? d / t * 1e6 / n : 0}')"
		fi
		[ "$(jq '.jobs[0].error' "$out")" = 0 ] || echo "$setup run $run qd32 $rw: fio error" >>"$notes"
	done
}

# warm FIO-ARGS...: write the whole region once, sequentially.
warm() {
	fio --name=warm "$@" --rw=write --bs=64k --iodepth=8 --output="$work/warm.txt" >/dev/null
}

start_targets() { # CONF COUNT: start targets 0..COUNT-1, wait for "serving"
	local conf=$1 count=$2 t pid
	server_pids=""
	for t in $(seq 0 $((count - 1))); do
		"$bin/apps/meshd" --config "$conf" --target "$t" >"$conf.t$t.log" 2>&1 &
		pid=$!
		pids+=("$pid")
		server_pids="$server_pids $pid"
		for _ in $(seq 200); do
			grep -q "serving" "$conf.t$t.log" && break
			kill -0 "$pid" 2>/dev/null || { cat "$conf.t$t.log" >&2; echo "$name: meshd target $t died" >&2; exit 1; }
			sleep 0.05
		done
		grep -q "serving" "$conf.t$t.log" || { cat "$conf.t$t.log" >&2; echo "$name: meshd target $t did not start" >&2; exit 1; }
	done
}

stop_targets() {
	local pid
	for pid in $server_pids; do kill -TERM "$pid"; done
	for pid in $server_pids; do wait "$pid" || echo "run $run: meshd $pid exited $?" >>"$notes"; done
	pids=()
	server_pids=""
}

write_conf() { # FILE VOLUME-LINE TARGETS TRANSPORT
	local f=$1 vol=$2 n=$3 tp=$4 t
	{
		echo "cluster lease=2s io_timeout=10s heartbeat=100ms heartbeat_timeout=1s transport=$tp"
		for t in $(seq 0 $((n - 1))); do
			mkdir -p "$shm/meta-$(basename "$f")-t$t"
			echo "target $t addr=127.0.0.1:$((port + t + (n > 1))) rack=$t meta=$shm/meta-$(basename "$f")-t$t"
		done
		for t in $(seq 0 $((n - 1))); do
			echo "drive $t path=$shm/$(basename "$f")-t$t.img size=$((size_mib + 64))MiB"
		done
		echo "$vol"
	} >"$f"
}

mesh_setup() { # TRANSPORT NAME LAYOUT-WORDS TARGETS [ONE-SIDED]: one mesh setup, measured
	local tp=$1 tag=mesh-${1/:/-}-$2 conf=$work/$2-${1/:/-}.conf one_sided=${5:-1}
	[ "$one_sided" = 1 ] || tag=$tag-two-sided
	write_conf "$conf" "volume v $3 size=${size_mib}MiB" "$4" "$tp"
	start_targets "$conf" "$4"
	mesh_args=(--ioengine=mesh --cluster="$conf" --volume=v --transport="$tp" --size="${size_mib}M"
		--one_sided="$one_sided")
	warm "${mesh_args[@]}"
	measure "$tag" "${mesh_args[@]}"
	stop_targets
	echo "   $tag done"
}

# The transports measured: tcp always; libfabric's tcp and shm providers
# where this machine's libfabric offers them.
transports=tcp
for provider in tcp shm; do
	if fi_info -p "$provider" -t FI_EP_RDM >/dev/null 2>&1; then
		transports="$transports fabric:$provider"
	else
		echo "mesh over fabric:$provider not measured: fi_info -p $provider -t FI_EP_RDM finds no endpoint" >>"$notes"
	fi
done

nbd_ok=1
if ! fio --enghelp=nbd >/dev/null 2>&1; then
	nbd_ok=0
	echo "NBD not measured: this fio has no nbd engine (fio --enghelp=nbd fails)" >>"$notes"
elif ! command -v nbdkit >/dev/null; then
	nbd_ok=0
	echo "NBD not measured: nbdkit is not installed (scripts/setup.sh installs it)" >>"$notes"
fi

for run in $(seq 1 "$runs"); do
	echo "== run $run of $runs ($(($(date +%s) - started)) s so far)"
	rm -rf "$shm" && mkdir -p "$shm"

	# local: psync at QD1, io_uring at QD32, on a tmpfs file (no O_DIRECT on tmpfs)
	server_pids=""
	local_args=(--filename="$shm/local.img" --size="${size_mib}M")
	warm "${local_args[@]}" --ioengine=psync --iodepth=1
	qd1_engine="--ioengine=psync" qd32_engine="--ioengine=io_uring"
	measure local "${local_args[@]}"
	rm -f "$shm/local.img"
	echo "   local done"

	# mesh over each transport: a single copy on one target, then a
	# 2-copy mirror (2 replicas and a witness)
	qd1_engine="" qd32_engine=""
	for tp in $transports; do
		mesh_setup "$tp" concat "layout=concat" 1
		mesh_setup "$tp" mirror2 "layout=mirror copies=2" 3
		case $tp in fabric:*) mesh_setup "$tp" concat "layout=concat" 1 0 ;; esac
		rm -rf "${shm:?}"/*
	done

	# NBD: nbdkit's file plugin on loopback TCP
	if [ "$nbd_ok" = 1 ]; then
		truncate -s "${size_mib}M" "$shm/nbd.img"
		nbdkit -f -i 127.0.0.1 -p $((port + 10)) file file="$shm/nbd.img" >"$work/nbdkit.log" 2>&1 &
		nbd_pid=$!
		pids+=("$nbd_pid")
		for _ in $(seq 100); do
			ss -Hltn "sport = :$((port + 10))" | grep -q . && break
			sleep 0.05
		done
		server_pids=$nbd_pid
		nbd_args=(--ioengine=nbd --uri="nbd://127.0.0.1:$((port + 10))" --size="${size_mib}M")
		if warm "${nbd_args[@]}"; then
			measure nbd "${nbd_args[@]}"
			echo "   nbd done"
		else
			nbd_ok=0
			echo "NBD not measured: fio's nbd engine could not write to nbdkit ($(tail -3 "$work/warm.txt" | tr '\n' ' '))" >>"$notes"
		fi
		kill -TERM "$nbd_pid"
		wait "$nbd_pid" || true
		pids=()
		server_pids=""
	fi
	rm -rf "$shm"
done
elapsed=$(($(date +%s) - started))

# ---- results/datapath.json
mkdir -p results
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | grep -q . && echo true || echo false)
jq -Rn --arg command "$command" --arg commit "$commit" --argjson dirty "$dirty" \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
	--arg fio "$(fio --version)" --arg nbdkit "$(nbdkit --version 2>/dev/null || echo none)" \
	--argjson nproc "$(nproc)" --argjson runs "$runs" --argjson secs "$secs" \
	--argjson size "$((size_mib * 1048576))" --argjson elapsed "$elapsed" \
	--arg notes "$(cat "$notes")" '
def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
[inputs | split("\t") | {run: (.[0] | tonumber), setup: .[1], measure: .[2], value: (.[3] | tonumber)}] as $v
| {
	command: $command, date: $date, commit: $commit, worktree_dirty: $dirty,
	environment: {nproc: $nproc, kernel: $kernel, fio: $fio, nbdkit: $nbdkit,
		note: "2 vCPUs shared with other work: noisy"},
	runs: $runs, seconds_per_measure: $secs, block_bytes: 4096, region_bytes: $size,
	statistic: "median over runs", wall_seconds: $elapsed,
	latency: "fio total latency (lat_ns, --lat_percentiles=1), microseconds",
	server_cpu: "utime+stime of the server processes (meshd targets or nbdkit) over the QD32 run, divided by the I/Os fio completed, microseconds",
	setups: {
		"local": "fio on a /dev/shm file: psync at QD1, io_uring at QD32",
		"mesh-TRANSPORT-concat": "fio mesh engine (spin_us default 20) over TRANSPORT (tcp, fabric-tcp = libfabric tcp;ofi_rxm, fabric-shm = libfabric shm), layout=concat, 1 meshd target, drive file in /dev/shm",
		"mesh-TRANSPORT-mirror2": "the same, layout=mirror copies=2, 3 meshd targets (2 replicas + witness)",
		"mesh-TRANSPORT-concat-two-sided": "mesh-TRANSPORT-concat with --one_sided=0: over fabric, every read two-sided (the others read the tail one-sided)",
		"nbd": "fio nbd engine (libnbd) to nbdkit file plugin on 127.0.0.1 TCP, file in /dev/shm"
	},
	polled: "fabric-shm has no wait fd: its meshd targets and the client spin while busy (napping 1 ms at a time once idle 2 ms), so their CPU per I/O is the spinning, not work",
	notes: ($notes | split("\n") | map(select(length > 0))),
	medians: ($v | group_by(.setup) | map({key: .[0].setup, value: (group_by(.measure)
		| map({key: .[0].measure, value: (map(.value) | median)}) | from_entries)}) | from_entries),
	per_run: ($v | group_by(.setup) | map({key: .[0].setup, value: (group_by(.measure)
		| map({key: .[0].measure, value: (sort_by(.run) | map(.value))}) | from_entries)}) | from_entries)
}' "$vals" >results/datapath.json

# ---- results/datapath.md
m() { jq -r --arg s "$1" --arg k "$2" '.medians[$s][$k] // empty' results/datapath.json; }
fmt() { [ -n "$1" ] && awk -v x="$1" -v d="${2:-1}" 'BEGIN {printf "%.*f", d, x}' || printf 'n/a'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}' || printf 'n/a'; }
row() {
	local s=$1 label=$2
	printf '| %s | %s / %s | %s / %s | %s | %s | %s / %s |\n' "$label" \
		"$(fmt "$(m "$s" qd1_randread_p50_us)")" "$(fmt "$(m "$s" qd1_randread_p99_us)")" \
		"$(fmt "$(m "$s" qd1_randwrite_p50_us)")" "$(fmt "$(m "$s" qd1_randwrite_p99_us)")" \
		"$(fmt "$(m "$s" qd32_randread_iops)" 0)" "$(fmt "$(m "$s" qd32_randwrite_iops)" 0)" \
		"$(fmt "$(m "$s" qd32_randread_server_cpu_us_per_io)" 2)" "$(fmt "$(m "$s" qd32_randwrite_server_cpu_us_per_io)" 2)"
}
perrun() { # SETUP MEASURE: the per-run values
	jq -r --arg s "$1" --arg k "$2" '.per_run[$s][$k] // [] | map(tostring) | join(", ")' results/datapath.json
}
has_nbd=$(jq -r '.medians | has("nbd")' results/datapath.json)

lr50=$(m local qd1_randread_p50_us)
setups_tp="tcp fabric-tcp fabric-shm"
mesh_setups=$(for tp in $setups_tp; do
	[ -n "$(m "mesh-$tp-concat" qd1_randread_p50_us)" ] && echo "mesh-$tp-concat mesh-$tp-mirror2"
	[ -n "$(m "mesh-$tp-concat-two-sided" qd1_randread_p50_us)" ] && echo "mesh-$tp-concat-two-sided"
done)
goal1() { # TRANSPORT: QD1 randread p50 minus local's
	local tp=$1 c r
	c=$(m "mesh-$tp-concat" qd1_randread_p50_us) r=$(m "mesh-$tp-mirror2" qd1_randread_p50_us)
	if [ -z "$c" ]; then
		printf '   - %s: not measured (see notes)\n' "$tp"
		return
	fi
	printf '   - %s: single copy %s µs − local %s µs = **%s µs** (%s); 2-copy mirror %s µs = **%s µs**\n' \
		"$tp" "$(fmt "$c")" "$(fmt "$lr50")" "$(awk -v a="$c" -v b="$lr50" 'BEGIN {printf "%+.1f", a - b}')" \
		"$(awk -v a="$c" -v b="$lr50" 'BEGIN {print (a - b <= 5) ? "met" : "not met"}')" \
		"$(fmt "$r")" "$(awk -v a="$r" -v b="$lr50" 'BEGIN {printf "%+.1f", a - b}')"
}
goal3() { # TRANSPORT: mirror against single copy, writes
	local tp=$1 q1 q32
	[ -n "$(m "mesh-$tp-concat" qd1_randwrite_p50_us)" ] || return 0
	q1=$(ratio "$(m "mesh-$tp-mirror2" qd1_randwrite_p50_us)" "$(m "mesh-$tp-concat" qd1_randwrite_p50_us)")
	q32=$(ratio "$(m "mesh-$tp-concat" qd32_randwrite_iops)" "$(m "mesh-$tp-mirror2" qd32_randwrite_iops)")
	printf '   - %s: QD1 randwrite p50 mirror/single = **%s×** (%s); QD32 randwrite IOPS single/mirror = **%s×** (%s)\n' \
		"$tp" "$q1" "$(awk -v r="$q1" 'BEGIN {print (r <= 1.3) ? "met" : "not met"}')" \
		"$q32" "$(awk -v r="$q32" 'BEGIN {print (r <= 1.3) ? "met" : "not met"}')"
}
goal4() { # TRANSPORT: server CPU per I/O at QD32
	local tp=$1
	[ -n "$(m "mesh-$tp-concat" qd1_randread_p50_us)" ] || return 0
	printf '   - %s: single copy %s µs per read, %s µs per write; 2-copy mirror %s / %s µs' "$tp" \
		"$(fmt "$(m "mesh-$tp-concat" qd32_randread_server_cpu_us_per_io)" 2)" \
		"$(fmt "$(m "mesh-$tp-concat" qd32_randwrite_server_cpu_us_per_io)" 2)" \
		"$(fmt "$(m "mesh-$tp-mirror2" qd32_randread_server_cpu_us_per_io)" 2)" \
		"$(fmt "$(m "mesh-$tp-mirror2" qd32_randwrite_server_cpu_us_per_io)" 2)"
	if [ -n "$(m "mesh-$tp-concat-two-sided" qd32_randread_server_cpu_us_per_io)" ]; then
		printf '; single copy read **one-sided %s µs vs two-sided %s µs** (%s×)' \
			"$(fmt "$(m "mesh-$tp-concat" qd32_randread_server_cpu_us_per_io)" 2)" \
			"$(fmt "$(m "mesh-$tp-concat-two-sided" qd32_randread_server_cpu_us_per_io)" 2)" \
			"$(ratio "$(m "mesh-$tp-concat" qd32_randread_server_cpu_us_per_io)" "$(m "mesh-$tp-concat-two-sided" qd32_randread_server_cpu_us_per_io)")"
	fi
	printf '\n'
}
goal2() { # measure: lower-is-better (lat) or higher-is-better (iops)
	local k=$1 better=$2 s v n
	n=$(m nbd "$k")
	for s in $mesh_setups; do
		v=$(m "$s" "$k")
		if [ "$has_nbd" != true ]; then
			printf '   - %s, %s: n/a (NBD not measured)\n' "$s" "$k"
		elif [ "$better" = lower ]; then
			printf '   - %s, %s: %s (mesh %s µs vs NBD %s µs, mesh/NBD = %s)\n' "$s" "$k" \
				"$(awk -v a="$v" -v b="$n" 'BEGIN {print (a < b) ? "**yes**" : "**no**"}')" \
				"$(fmt "$v")" "$(fmt "$n")" "$(ratio "$v" "$n")"
		else
			printf '   - %s, %s: %s (mesh %s vs NBD %s IOPS, mesh/NBD = %s)\n' "$s" "$k" \
				"$(awk -v a="$v" -v b="$n" 'BEGIN {print (a > b) ? "**yes**" : "**no**"}')" \
				"$(fmt "$v" 0)" "$(fmt "$n" 0)" "$(ratio "$v" "$n")"
		fi
	done
}

{
	cat <<EOF
# Data path: mesh over tcp and libfabric against local tmpfs and NBD

\`$command\` (commit $commit$([ "$dirty" = true ] && echo ", with uncommitted changes"), $(jq -r .date results/datapath.json),
$(nproc) vCPUs, kernel $(uname -r), $(fio --version), wall time ${elapsed} s).
fio, 4 KiB blocks, a ${size_mib} MiB region written first in every run, every
backing file in /dev/shm, fresh files and fresh targets in every run, ${secs} s
per measure, **medians over $runs runs** (per-run values below and in
\`datapath.json\`). Latency is fio's total latency (\`lat\`, with
\`--lat_percentiles=1\`), not clat, so engines that submit asynchronously
(io_uring, nbd, mesh) are compared fairly with psync.

**Noise:** this machine has 2 vCPUs shared with other work. fio, the mesh
client's poller, the meshd targets (or nbdkit) all share those 2 cores, and a
cross-core wake-up costs 25–50 µs here (DESIGN.md, "Toolchain facts").
Other jobs (including other meshd test clusters) ran on the same cores during
the run. Treat differences under ~20% as noise, and the absolute numbers as far from
what dedicated cores would show.

| setup | QD1 randread p50 / p99 (µs) | QD1 randwrite p50 / p99 (µs) | QD32 randread IOPS | QD32 randwrite IOPS | server CPU per I/O at QD32, read / write (µs) |
|---|---|---|---|---|---|
$(row local "local /dev/shm (psync QD1, io_uring QD32)")
$(for tp in $setups_tp; do
	if [ -n "$(m "mesh-$tp-concat" qd1_randread_p50_us)" ]; then
		row "mesh-$tp-concat" "mesh $tp, single copy (concat, 1 target)"
		row "mesh-$tp-mirror2" "mesh $tp, 2-copy mirror (3 targets)"
		[ -z "$(m "mesh-$tp-concat-two-sided" qd1_randread_p50_us)" ] ||
			row "mesh-$tp-concat-two-sided" "mesh $tp, single copy, every read two-sided"
	else
		echo "| mesh $tp | not measured: see notes | | | | |"
	fi
done)
$(if [ "$has_nbd" = true ]; then row nbd "NBD (nbdkit file, loopback TCP)"; else echo "| NBD | not measured: see notes | | | | |"; fi)

Server CPU per I/O: utime+stime of the meshd processes (all targets of the
setup) or of nbdkit, from \`/proc/PID/stat\` before and after the QD32 run,
divided by the I/Os fio completed (clock-tick resolution, 10 ms over a
${secs} s run). The client's CPU (fio and the mesh client library) is not in it.

## The project's goals

1. **QD1 randread p50 over shm within 5 µs of local** (the goal is for
   fabric-shm; the others for comparison). Over fabric, 4 KiB reads are
   one-sided: the client reads the tail's mapped drive with \`fi_read\`
   under a key granted for the epoch it holds. Over tcp they are
   two-sided (request, io_uring read on the target, reply).
$(for tp in $setups_tp; do goal1 "$tp"; done)
2. **Every mesh transport faster than NBD at QD1 and QD32:**
$(goal2 qd1_randread_p50_us lower)
$(goal2 qd1_randread_p99_us lower)
$(goal2 qd1_randwrite_p50_us lower)
$(goal2 qd1_randwrite_p99_us lower)
$(goal2 qd32_randread_iops higher)
$(goal2 qd32_randwrite_iops higher)
3. **A 2-copy mirrored write no slower than 1.3× a single-copy write**
   (chain replication: the copies are written one after the other):
$(for tp in $setups_tp; do goal3 "$tp"; done)
4. **Target CPU time per I/O with one-sided access:** the targets' CPU per
   I/O at QD32 (summed over all targets of the setup). Over fabric, reads
   are one-sided: no mesh code runs on the target per read, but
   libfabric's tcp and shm providers carry out RMA in the target's own
   progress (there is no RDMA NIC here to do it), so the target's CPU is
   not zero. Over fabric-shm the targets spin while busy, so its figures
   are the spinning:
$(for tp in $setups_tp; do goal4 "$tp"; done)
$(if [ "$has_nbd" = true ]; then echo "   - nbdkit: $(fmt "$(m nbd qd32_randread_server_cpu_us_per_io)" 2) / $(fmt "$(m nbd qd32_randwrite_server_cpu_us_per_io)" 2) µs for comparison"; fi)

![QD1 latency](datapath-latency.svg)

## Per-run values

| setup | measure | runs |
|---|---|---|
EOF
	for s in $(jq -r '.per_run | keys[]' results/datapath.json); do
		for k in $(jq -r --arg s "$s" '.per_run[$s] | keys[]' results/datapath.json); do
			echo "| $s | $k | $(perrun "$s" "$k") |"
		done
	done
	if [ -s "$notes" ]; then
		echo
		echo "## Notes"
		echo
		sed 's/^/- /' "$notes"
	fi
} >results/datapath.md

# ---- results/datapath-latency.svg: QD1 p50/p99 per setup
plotdat=$work/latency.dat
{
	echo "setup rr50 rr99 rw50 rw99"
	for s in local $mesh_setups nbd; do
		[ -n "$(m "$s" qd1_randread_p50_us)" ] || continue
		echo "$s $(m "$s" qd1_randread_p50_us) $(m "$s" qd1_randread_p99_us) $(m "$s" qd1_randwrite_p50_us) $(m "$s" qd1_randwrite_p99_us)"
	done
} >"$plotdat"
gnuplot <<EOF
set terminal svg size 900,500 dynamic font "sans,12"
set output "results/datapath-latency.svg"
set title "4 KiB QD1 latency (fio lat, median of $runs runs, 2 shared vCPUs)"
set ylabel "microseconds"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top left
set xtics rotate by -30
set grid ytics
set yrange [0:*]
plot "$plotdat" using 2:xtic(1) title "randread p50", \
     "" using 3 title "randread p99", \
     "" using 4 title "randwrite p50", \
     "" using 5 title "randwrite p99"
EOF

echo "== done in ${elapsed} s: results/datapath.md, results/datapath.json, results/datapath-latency.svg"
sed -n '/^| setup | QD1/,/^$/p' results/datapath.md
