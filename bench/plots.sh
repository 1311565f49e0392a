#!/usr/bin/env bash
# bench/plots.sh — the pictures of docs/benchmarks.md, drawn with gnuplot from the data bench/report.awk writes
# (awk -v plots=DATA_DIR): one latency percentile curve per latency scenario and per upgrade scenario (HDR-style: x = percentile on a log
# scale of 1/(1-q), y = round trip in µs, log scale; one line per peer) and one bar chart of the ratios of
# Tollgate to the better of nginx and HAProxy (drawn so that higher is better for Tollgate: lower-is-better
# figures are inverted; 1.0 = parity; green at or above parity, red below).
# Usage: bench/plots.sh DATA_DIR IMAGE_DIR. Prints the Markdown that embeds the images (paths relative to the
# report, which lives in IMAGE_DIR/..). Exits 0 without output when gnuplot is missing (scripts/deps.sh
# installs gnuplot-nox).
set -uo pipefail
data=$1 images=$2
command -v gnuplot >/dev/null || { echo "plots: gnuplot is missing (scripts/deps.sh installs gnuplot-nox); no pictures" >&2; exit 0; }
mkdir -p "$images"
rel=$(basename "$images")

titles() {
  case $1 in
  lat1) echo "WebSocket echo round trip, 1 connection" ;;
  lat1same) echo "WebSocket echo round trip, 1 connection, proxy on the clients' CPU" ;;
  lat100) echo "WebSocket echo round trip, 100 connections" ;;
  upgrade) echo "WebSocket upgrade, connect to 101, 20 connections looping" ;;
  upgradekey) echo "WebSocket upgrade, connect to 101, Tollgate with verifyApiKey" ;;
  *) echo "$1" ;;
  esac
}

for f in "$data"/latency-*.dat; do
  [ -e "$f" ] || continue
  l=$(basename "$f" .dat); l=${l#latency-}
  out="$images/bench-latency-$l.png"
  # columns: x then one per peer (header "# x direct tollgate nginx haproxy")
  read -r -a cols < <(head -1 "$f" | sed 's/^# x //')
  plot=""
  for i in "${!cols[@]}"; do
    c=$((i + 2))
    name=${cols[$i]}
    case $name in tollgate) style="lw 3 lc rgb '#d62728'" ;; nginx) style="lw 2 lc rgb '#2ca02c'" ;;
      haproxy) style="lw 2 lc rgb '#1f77b4'" ;; *) style="lw 2 dt 2 lc rgb '#7f7f7f'" ;; esac
    plot+="${plot:+, }'$f' using 1:$c with linespoints $style pt 7 title '$name'"
  done
  gnuplot <<GP || { echo "plots: gnuplot failed on $f" >&2; continue; }
set terminal pngcairo size 900,540 font 'DejaVu Sans,11'
set output '$out'
set title "$(titles "$l"): latency by percentile"
set logscale x 10
set logscale y 10
set xrange [1.5:15000]
set xtics ("50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000)
set xlabel "percentile"
set ylabel "$(case $l in upgrade*) echo "connect to 101" ;; *) echo "round trip" ;; esac) (µs, log scale)"
set grid xtics ytics mytics
set key top left
plot $plot
GP
  echo "![latency percentiles, $(titles "$l")]($rel/bench-latency-$l.png)"
  echo
done

if [ -s "$data/ratios.dat" ]; then
  out="$images/bench-ratios.png"
  # label: "scenario:figure" → "scenario figure"
  awk '{ split($1, a, ":"); gsub("_", " ", a[2]); printf("\"%s\\n%s\" %s\n", a[1], a[2], $2) }' "$data/ratios.dat" >"$data/ratios-plot.dat"
  n=$(wc -l <"$data/ratios-plot.dat")
  gnuplot <<GP || echo "plots: gnuplot failed on the ratios" >&2
set terminal pngcairo size $((260 + n * 70)),560 font 'DejaVu Sans,10'
set output '$out'
set title "Tollgate ÷ better of nginx/HAProxy (higher is better for Tollgate; lower-is-better figures inverted)"
set style fill solid 0.8 border -1
set xrange [-0.6:$n - 0.4]
set yrange [0:*]
set ylabel "ratio (1.0 = parity)"
set grid ytics
set xtics rotate by -40 left font ',9'
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb '#000000'
unset key
plot '$data/ratios-plot.dat' using 0:2:(0.7):(\$2 >= 1 ? 0x2ca02c : 0xd62728):xtic(1) with boxes lc rgb variable
GP
  echo "![ratios of Tollgate to the better of nginx and HAProxy]($rel/bench-ratios.png)"
  echo
fi
