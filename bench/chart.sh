#!/usr/bin/env bash
# bench/chart.sh SUMMARY_TSV OUT_PNG [TITLE] — a bar chart of req/s (left)
# and p99 ms (right) per row of a yardstick summary.tsv (gnuplot-nox).
set -euo pipefail
tsv=$1; out=$2; title=${3:-yardstick}
command -v gnuplot >/dev/null || { echo "chart: gnuplot is missing (apt-get install -y gnuplot-nox)" >&2; exit 1; }
gnuplot <<GP
set terminal pngcairo size 1100,520 font ",10"
set output "$out"
set datafile separator "\t"
set multiplot layout 1,2 title "$title"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -35 noenhanced
set grid ytics
set key off
set title "req/s (median of rounds)"
plot "$tsv" every ::1 using 2:xtic(1) lc rgb "#3b75af"
set title "p99 latency, ms (median of rounds)"
set logscale y
plot "$tsv" every ::1 using 7:xtic(1) lc rgb "#c0504d"
unset multiplot
GP
echo "chart: $out"
