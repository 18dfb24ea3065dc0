#!/usr/bin/env bash
# make fuzz / the fuzzing step of make check: builds the libFuzzer targets (tests/fuzz) in a
# clang build directory and runs each for a bounded time, then prints one line per target
# (executions, coverage, corpus) and every finding with the command that reproduces it.
#
#   scripts/fuzz.sh [--builddir=DIR] [--time=SECONDS] [--jobs=N] [--fresh] [--no-build] [TARGET...]
#
#   --builddir  clang build (default build-fuzz; configured with --enable-fuzzing if absent)
#   --time      seconds per target (default $FUZZ_TIME or 60)
#   --jobs      targets run at once (default $FUZZ_JOBS or 2)
#   --fresh     start from the checked-in seeds only (make check), instead of the corpus
#               grown by earlier runs in DIR/fuzz/TARGET/corpus (make fuzz)
#   --no-build  run the binaries already built (a long run while the tree is changing)
# Findings (crash-*, leak-*, timeout-*, oom-* inputs) stay in DIR/fuzz/TARGET/findings/; the
# exit status is 1 if any target found something. See docs/devel/fuzzing.rst.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz
seconds=${FUZZ_TIME:-60}
jobs=${FUZZ_JOBS:-2}
fresh=false
build_first=true
targets=()
for arg in "$@"; do
  case "$arg" in
    --builddir=*) build=${arg#*=} ;;
    --time=*) seconds=${arg#*=} ;;
    --jobs=*) jobs=${arg#*=} ;;
    --fresh) fresh=true ;;
    --no-build) build_first=false ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$arg'" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz-*.cc; do
    t=${f#tests/fuzz/fuzz-}
    targets+=("${t%.cc}")
  done
fi

if $build_first; then
  if [ ! -f "$build/build.ninja" ]; then
    ./configure --builddir="$build" --enable-fuzzing
  fi
  # Only the fuzz targets and what they link: the rest of the project is the GCC build's.
  nice ninja -C "$build" fuzz-targets
fi

run_one() {
  local t=$1 dir=$build/fuzz/$1
  local bin=$build/tests/fuzz/fuzz-$t seeds=tests/fuzz/corpus/$t dict=tests/fuzz/dicts/$t.dict
  local corpus=$dir/corpus
  if $fresh; then corpus=$dir/corpus-check; rm -rf "$corpus"; fi
  mkdir -p "$corpus" "$dir/findings"
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048
              -artifact_prefix="$dir/findings/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  # New inputs go to the first directory; the seeds are read only.
  set +e
  nice -n 19 "$bin" "${args[@]}" "$corpus" "$seeds" >"$dir/log" 2>&1
  echo $? >"$dir/status"
  set -e
  if $fresh; then rm -rf "$corpus"; fi
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz-$t" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
  rm -f "$build/fuzz/$t/status"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

found=0
printf '%-10s %12s %8s %8s %14s  %s\n' target execs cov ft corpus result
for t in "${targets[@]}"; do
  dir=$build/fuzz/$t
  log=$dir/log
  if [ ! -f "$log" ]; then
    printf '%-10s %12s %8s %8s %14s  %s\n' "$t" - - - - "did not run (no $log)"
    found=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  status=$(cat "$dir/status" 2>/dev/null || echo '?')
  findings=$(find "$dir/findings" -type f -newermt "@$start" 2>/dev/null | sort)
  result=ok
  if [ "$status" != 0 ] || [ -n "$findings" ]; then result="FINDING (exit $status)"; found=1; fi
  printf '%-10s %12s %8s %8s %14s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  if [ "$result" != ok ]; then
    # A log with none of these lines (a finding left by an earlier run in this one's time) is
    # no reason to stop the summary.
    { grep -E 'invariant failed|ERROR: |SUMMARY: ' "$log" || true; } | head -5 | sed 's/^/    /'
    for f in $findings; do echo "    reproduce: $build/tests/fuzz/fuzz-$t $f"; done
    echo "    log: $log"
  fi
done
exit $found
