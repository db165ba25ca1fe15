# latency.gp - bench/compare.sh's latency plot: the percentiles of one log
# call per peer (medians over the repetitions), on a log scale.
# Reads results/latency.dat next to this file; writes results/latency.png.
if (!exists("results")) results = system("dirname '" . ARG0 . "'") . "/results"
set terminal pngcairo size 900,540 noenhanced font ",10"
set output results . "/latency.png"
set title "Producer-side latency of one log call (ns, median of runs; lfence+rdtsc bracket included)"
set logscale y
set ylabel "ns per call (log scale)"
set xlabel "percentile"
set grid ytics mytics
set key outside right top
set style data linespoints
datafile = results . "/latency.dat"
peers = system("head -1 '" . datafile . "'")
plot for [i=2:words(peers)] datafile using i:xtic(1) title columnheader(i) lw 2 pt 7
