#!/usr/bin/env bash
# make bench: a release build of what the benchmarks need, then every benchmark, side by side
# with QEMU or the physical floor, into bench/results/latest.md and PNG plots beside it.
#
#   scripts/bench.sh                  the full run (build-release, --enable-release)
#   scripts/bench.sh --smoke BUILD    a tiny run from an existing build into a scratch
#                                     directory, checking only that every benchmark printed
#                                     its figures (the bench-smoke meson test); never timed
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
if [ "${1:-}" = --smoke ]; then
  smoke=true
  build=$(cd "${2:?usage: bench.sh --smoke BUILD-DIR}" && pwd)
  out=$(mktemp -d /tmp/nn-bench-smoke.XXXXXX)
  trap 'rm -rf "$out"' EXIT
else
  build=$PWD/build-release
  out=bench/results
fi
# Raw samples stay out of the tree: in the scratch directory, or in the build directory.
if $smoke; then data=$out/data; else data=$build/bench-data; fi
mkdir -p "$data"
rm -f "$data"/*.txt "$data"/*.cdf

run_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

emulator=$build/nahanni-system-x86_64
server=$build/contrib/ivshmem-server/ivshmem-server
client=$build/contrib/ivshmem-client/ivshmem-client
targets="nahanni-system-x86_64 contrib/ivshmem-server/ivshmem-server contrib/ivshmem-client/ivshmem-client
         bench/emulator-bench bench/server-bench bench/doorbell-bench"
build_s=0
if ! $smoke; then
  [ -f "$build/build.ninja" ] || ./configure --builddir=build-release --enable-release
  # The PVH test guest, for the KVM round trips, when the build can make it.
  if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^tests/guest/guest.elf:'; then
    targets="$targets tests/guest/guest.elf"
  fi
  build_begin=$(date +%s)
  # shellcheck disable=SC2086
  nice ninja -C $build $targets
  build_s=$(( $(date +%s) - build_begin ))
fi

for b in "$emulator" "$server" "$client" "$build"/bench/{emulator,server,doorbell}-bench; do
  [ -x "$b" ] || { echo "bench.sh: $b is missing; build it first" >&2; exit 1; }
done
qemu=$(command -v qemu-system-x86_64 || true)
if $smoke; then
  startup_runs=2 round_trips=50 max_peers=20 server_budget=30
else
  startup_runs=20 round_trips=10000 max_peers=10000 server_budget=${BENCH_SERVER_BUDGET:-330}
fi

section() { echo; echo "## $1"; echo; }
table=$out/latest.md.new
{
  echo "# nahanni benchmarks"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)."
  echo "Each figure is the median of repeated runs; nahanni and its peer run alternately on the same inputs."
  echo "ratio = nahanni / peer (lower is better for times, sizes and descriptors; higher is better for rates)."
  echo "spread = interquartile range, nahanni / peer. runs = samples, nahanni / peer."

  section "Emulator: nahanni vs Debian's QEMU 7.2 (pc, -S; nahanni -accel qtest, QEMU -accel tcg)"
  if [ -n "$qemu" ]; then
    nice -n 0 $build/bench/emulator-bench "$emulator" "$qemu" $startup_runs "$data"
  else
    echo "qemu-system-x86_64 is not installed: no emulator figures."
  fi

  section "Doorbell round trips, against the floor (two processes ping-ponging eventfds)"
  # The KVM round trips only in the full run: they need /dev/kvm and the test guest.
  guest=""
  if ! $smoke && [ -f "$build/tests/guest/guest.elf" ]; then guest=$build/tests/guest/guest.elf; fi
  $build/bench/doorbell-bench "$emulator" "$server" "$client" $round_trips "$data" $guest ${guest:+$qemu}

  section "ivshmem-server (peers simulated in one process)"
  if ! $smoke; then
    # The whole run should end within 14 minutes: the server's peer steps get what is left.
    left=$(( 840 - ($(date +%s) - run_start) - 20 ))
    [ "$left" -lt "$server_budget" ] && server_budget=$left
    [ "$server_budget" -lt 60 ] && server_budget=60
  fi
  $build/bench/server-bench "$server" $max_peers $server_budget "$data"
} > "$table"

# Plots, when gnuplot is there (scripts/install-deps.sh installs gnuplot-nox).
plots=""
if command -v gnuplot > /dev/null; then
  cdf() {  # samples, one a line -> "value fraction" sorted
    local n
    n=$(wc -l < "$1")
    sort -g "$1" | awk -v n="$n" '{ print $1, NR / n }' > "$1.cdf"
  }
  for f in "$data"/rtt-*.txt "$data"/startup-*.txt; do [ -s "$f" ] && cdf "$f"; done
  gp() { gnuplot -e "set terminal pngcairo size 900,560 font ',10'; set output '$out/$1'; set grid; set key bottom right; $2"; }
  if [ -s "$data/rtt-floor.txt.cdf" ]; then
    gp doorbell-rtt.png "set title 'Doorbell round trips (CDF)'; set logscale x; set xlabel 'round trip (µs)';
      set ylabel 'fraction of round trips'; set yrange [0:1];
      plot '$data/rtt-floor.txt.cdf' with lines lw 2 title 'floor: eventfd ping-pong, two processes',
           '$data/rtt-client.txt.cdf' with lines lw 2 title 'ivshmem-client to ivshmem-client',
           '$data/rtt-qtest.txt.cdf' with lines lw 2 title 'nahanni to nahanni (qtest, INTx)'"
    plots="$plots doorbell-rtt.png"
  fi
  if [ -s "$data/startup-greeting-nahanni.txt.cdf" ]; then
    gp startup.png "set title 'exec to QMP greeting (CDF)'; set logscale x; set xlabel 'ms'; set ylabel 'fraction of runs';
      set yrange [0:1];
      plot '$data/startup-greeting-nahanni.txt.cdf' with linespoints lw 2 title 'nahanni',
           '$data/startup-greeting-qemu.txt.cdf' with linespoints lw 2 title 'QEMU 7.2'"
    plots="$plots startup.png"
  fi
  if [ -s "$data/fanout.txt" ]; then
    gp server-fanout.png "set title 'ivshmem-server: a newcomer reaches N peers'; set logscale xy;
      set xlabel 'peers held (N)'; set ylabel 'connect until every peer has the eventfd (ms)'; set key top left;
      plot '$data/fanout.txt' using 1:2:3:4 with yerrorlines lw 2 title 'median (bars: quartiles)'"
    plots="$plots server-fanout.png"
  fi
  if [ -s "$data/server-rss.txt" ]; then
    gp server-rss.png "set title 'ivshmem-server: RSS per peer held'; set logscale x; set xlabel 'peers held (N)';
      set ylabel '(RSS - RSS with no peer) / N (KiB)'; set key top left;
      plot '$data/server-rss.txt' using 1:3 with linespoints lw 2 title 'RSS per peer'"
    plots="$plots server-rss.png"
  fi
fi

total_s=$(( $(date +%s) - run_start ))
{
  cat "$table"
  echo
  echo "## This run"
  echo
  echo "Wall time $total_s s, of which the release build took $build_s s; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  if [ -n "$plots" ]; then
    echo "Plots:$(for p in $plots; do printf ' [%s](%s)' "$p" "$p"; done)."
  fi
} > "$out/latest.md"
rm -f "$table"

if $smoke; then
  # Every benchmark printed its table rows and the plots' data is there; speed is not checked.
  rows=$(grep -c '^| ' "$out/latest.md" || true)
  missing=""
  for f in rtt-floor.txt rtt-client.txt rtt-qtest.txt fanout.txt server-rss.txt; do
    [ -s "$data/$f" ] || missing="$missing $f"
  done
  if [ -n "$qemu" ] && ! grep -q 'exec to QMP greeting' "$out/latest.md"; then missing="$missing emulator-bench"; fi
  if grep -q '| failed |' "$out/latest.md"; then missing="$missing (a figure failed)"; fi
  cat "$out/latest.md"
  if [ "$rows" -lt 10 ] || [ -n "$missing" ]; then
    echo "bench smoke run incomplete: $rows table rows; missing:$missing" >&2
    exit 1
  fi
  exit 0
fi
cat "$out/latest.md"
