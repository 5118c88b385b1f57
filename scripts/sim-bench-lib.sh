# scripts/sim-bench-lib.sh: what the simulator benchmarks share. Sourced,
# from the repository root, with $name set to the script's name and $1 the
# seed count.
#
# Sets $seeds (default 3, checked), $sim (MESH_SIM or the release build,
# built if needed) and $work (a temporary directory removed on exit), and
# defines json FILE KEY (the first value after "KEY": in FILE), median (of
# the numbers on its input) and run_seed SCENARIO SEED WHAT (run one seed
# into $work; exit 1 naming WHAT if its checks fail).
seeds=${1:-3}
case $seeds in
'' | *[!0-9]* | 0) echo "$name: SEEDS must be a whole number >= 1, not '$seeds'" >&2; exit 2 ;;
esac
sim=${MESH_SIM:-build/release/sim/mesh-sim}
[ -n "${MESH_SIM:-}" ] || scripts/build.sh build/release >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
json() { grep -o "\"$2\": *\"\\?[^,}\"]*" "$1" | head -1 | sed 's/.*: *"\?//'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
run_seed() {
	local scn=$1 seed=$2 what=$3
	shift 3
	"$sim" "$scn" --seed "$seed" --out "$work" --no-progress "$@" >"$work/stdout" 2>"$work/stderr" || {
		tail -5 "$work/stderr" >&2
		echo "$name: $what seed $seed failed its checks" >&2
		exit 1
	}
}
