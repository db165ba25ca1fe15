# clock.gp - bench/clock.sh's plot: per record, its time against the wall clock
# (ts_ns - w0, w0 = CLOCK_REALTIME read right before the log call) and the
# call's own window (w1 - w0, w1 read right after it returned), over the run,
# one colour per process.
# Reads results/clock.dat next to this file (its first line names the blocks);
# writes results/clock.png.
if (!exists("results")) results = system("dirname '" . ARG0 . "'") . "/results"
datafile = results . "/clock.dat"
titles = system("sed -n 's/^# titles: //p' '" . datafile . "'")
set terminal pngcairo size 1000,720 noenhanced font ",10"
set output results . "/clock.png"
set multiplot layout 2,1 title "Record time vs CLOCK_REALTIME (bench/clock.sh; target: within 2 us)"
set grid
set offsets 0, 0, graph 0.05, graph 0.05
set key outside right top
set xlabel "seconds since the first record"
# A call preempted between its two reads (w1 - w0 of milliseconds) says nothing about the error and
# would flatten the scale: the top panel leaves out calls whose window is over 10 us (the bottom panel
# and the table show them).
set ylabel "ts_ns - w0 (ns)"
set title "record time minus the wall clock read right before the call (calls with w1 - w0 <= 10 us)"
plot for [i=1:words(titles)] datafile index (i-1) using 1:($3 <= 10000 ? $2 : NaN) with points pt 7 ps 0.4 \
    title word(titles, i)
set ylabel "w1 - w0 (ns, log scale)"
set logscale y
set title "the call's window: wall clock after the call minus before (ts may lie anywhere in it)"
plot for [i=1:words(titles)] datafile index (i-1) using 1:($3 > 0 ? $3 : 1) with points pt 7 ps 0.4 title word(titles, i)
unset multiplot
