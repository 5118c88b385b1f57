#!/usr/bin/env bash
# scripts/plot-copysets.sh [JSON]: plot a Copysets study (mesh-sim
# scenarios/copysets.scn) as P(data loss) against cluster size, random
# replication against Copyset Replication, with the paper's figures.
# Writes the PNG beside the JSON (default results/sim/copysets-seed1.json).
set -euo pipefail
cd "$(dirname "$0")/.."
json=${1:-results/sim/copysets-seed1.json}
png=${json%.json}.png
data=$(mktemp)
paper=$(mktemp)
trap 'rm -f "$data" "$paper"' EXIT
# Percentages; a zero cannot sit on a log axis, so it is left out.
jq -r '.rows[] | [.nodes, .random.p_loss_mc * 100, .random.p_loss_closed_form * 100,
       .copyset.p_loss_mc * 100, .copyset.p_loss_closed_form * 100] | @tsv' "$json" >"$data"
jq -r '.paper[] | select(.policy != "other") | [.nodes, .p_loss * 100,
       (if .policy == "random" then "random" else "S = \(.scatter_width)" end)] | @tsv' \
  "$json" >"$paper"
title=$(jq -r '"R = \(.copies), \(.failed_fraction * 100)% of nodes fail at once, scatter width \(.scatter_width), \(.chunks_per_node) chunks per node, \(.trials) trials"' "$json")
gnuplot <<GP
set terminal pngcairo size 900,560 font ",11"
set output "$png"
set title "Copysets study: probability of data loss\n{/*0.8 $title}"
set logscale xy
set xlabel "nodes"
set ylabel "P(data loss), %"
set yrange [0.01:150]
set key bottom right
set grid
set datafile separator "\t"
plot "$data" using 1:(\$2 > 0 ? \$2 : 1/0) with points pt 7 ps 1.3 lc rgb "#c0392b" title "random replication (Monte Carlo)", \
     "$data" using 1:3 with lines lc rgb "#c0392b" title "random replication (closed form)", \
     "$data" using 1:(\$4 > 0 ? \$4 : 1/0) with points pt 5 ps 1.3 lc rgb "#2471a3" title "Copyset Replication (Monte Carlo)", \
     "$data" using 1:5 with lines lc rgb "#2471a3" title "Copyset Replication (closed form)", \
     "$paper" using 1:2 with points pt 6 ps 2.5 lw 2 lc rgb "black" title "paper (Cidon et al., ATC 2013)", \
     "$paper" using 1:2:3 with labels left offset 1.5,0 notitle
GP
echo "$png"
