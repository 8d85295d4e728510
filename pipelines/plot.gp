# pipelines/plot.gp — the training curve of a pcnn-fit log as a PNG (gnuplot 5.4).
#
#   gnuplot -e "in='runs/x/fit.tsv'; out='runs/x/curve.png'; title='x'" pipelines/plot.gp
#
# in: the pcnn-fit log, a TSV with one header line and one row per epoch. Columns are
# found by name: epoch; train_bpd and val_bpd (bits per dimension, left axis);
# val_acc (validation accuracy, a fraction, right axis in %). A column that is absent or
# holds no number (no validation set, labels unknown) is left out of the plot.
# Uses the pngcairo terminal when this gnuplot has it, else png (libgd).

if (!exists("in"))    in = "fit.tsv"
if (!exists("out"))   out = "curve.png"
if (!exists("title")) title = ""
if (!exists("xcol"))  xcol = "epoch"
if (!exists("bcols")) bcols = "train_bpd val_bpd"
if (!exists("acol"))  acol = "val_acc"

# The key's words for the column names pcnn-fit writes; other names are shown as they are.
label(c) = c eq "train_bpd" ? "train bits/dim" : c eq "val_bpd" ? "validation bits/dim" : \
           c eq "val_acc" ? "validation accuracy" : c

# n_numbers(name): how many rows of column `name` hold a finite number (0 when absent).
awk_count = "awk -F'\t' -v c='%s' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } k && $k ~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ { n++ } END { print n + 0 }' '%s'"
n_numbers(name) = int(system(sprintf(awk_count, name, in)) + 0)

if (n_numbers(xcol) == 0) {
    print sprintf("plot.gp: %s: no rows with an '%s' column: nothing to plot", in, xcol)
    exit status 1
}

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 900,520 enhanced font "sans,10" linewidth 1.5
} else {
    set terminal png size 900,520 font "sans,10"
}
set output out
set datafile separator "\t"
set datafile columnheaders
set datafile missing "nan"

set title (title eq "" ? "training curve" : "training curve: " . title) noenhanced
set xlabel "epoch"
set ylabel "bits per dimension"
set grid xtics ytics lc rgb "#dddddd"
set key outside top center horizontal noenhanced
set xtics nomirror
set ytics nomirror
set format x "%.0f"
# few epochs: a tic per epoch
if (n_numbers(xcol) <= 20) { set xtics 1 }
# one epoch: a range around it (autoscaling a single point would warn)
if (n_numbers(xcol) == 1) {
    stats in using xcol nooutput
    set xrange [STATS_min - 1 : STATS_max + 1]
}
set format y "%g"

have_acc = n_numbers(acol) > 0
if (have_acc) {
    set y2label "validation accuracy"
    set y2range [0:100]
    set y2tics 10 nomirror format "%.0f%%"
}

nb = words(bcols)
plotcmd = ""
do for [i = 1:nb] {
    c = word(bcols, i)
    if (n_numbers(c) > 0) {
        plotcmd = plotcmd . (plotcmd eq "" ? "" : ", ") . \
            sprintf("in using '%s':'%s' with linespoints pt 7 ps 0.6 lc %d title '%s'", xcol, c, i, label(c))
    }
}
if (have_acc) {
    plotcmd = plotcmd . (plotcmd eq "" ? "" : ", ") . \
        sprintf("in using '%s':(100 * column('%s')) axes x1y2 with linespoints pt 5 ps 0.6 lc rgb '#2a9d3a' dt 2 title '%s'", xcol, acol, label(acol))
}
if (plotcmd eq "") {
    print sprintf("plot.gp: %s: no numbers in columns %s %s: nothing to plot", in, bcols, acol)
    exit status 1
}
eval("plot " . plotcmd)
set output
