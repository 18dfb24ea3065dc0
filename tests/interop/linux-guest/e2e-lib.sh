# Shared by run-e2e.sh and tests/interop/linux-kmod/run-kmod-e2e.sh (sourced, POSIX sh): a
# private temporary folder, guests under QEMU in the background, their checks and logs.
#
# The caller sets QEMU, kernel (the image's vmlinux or vmlinuz), initrd, guest_append (kernel
# flags after the common ones) and guest_timeout (seconds), then calls e2e_init PREFIX.
#
# How a guest ends: its /init writes its result to QEMU's isa-debug-exit (port 0xf4), which
# ends QEMU with status (result << 1) | 1 (results above 63 are reported as 63, so a status of
# 128 and more still means a signal), so the only good exit status is 1 (result 0).
# A kernel panic (panic=-1 reboots, -no-reboot ends QEMU with 0), a reset, a crash or the
# timeout all give another status.
#
# A failure, and an interruption (meson's timeout sends SIGTERM to the test's process
# group), print every serial log; an interruption also keeps the logs in the folder.
# Wall times from QEMU's start to its exit are printed and compared with the 30 s goal, never
# asserted: meson's timeout is the bound.

e2e_init() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  pids=""
  guests=""
  failed=0
  interrupted=0
  logs_printed=0
  trap e2e_cleanup EXIT
  trap e2e_interrupt INT TERM
}

fail() { echo "FAIL: $*"; failed=1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

e2e_print_logs() {
  [ $logs_printed = 0 ] || return 0
  logs_printed=1
  for log in "$tmp"/*.log; do
    [ -f "$log" ] || continue
    echo "----- $(basename "$log") -----"
    cat "$log"
  done
}

e2e_interrupt() {
  interrupted=1
  failed=1
  echo "INTERRUPTED by a signal (meson's timeout?)"
  for g in $guests; do
    if [ -f "$tmp/$g.time" ]; then
      echo "guest $g: had ended, $(cat "$tmp/$g.time") ms from start to exit"
    elif [ -f "$tmp/$g.start" ]; then
      echo "guest $g: still running $(($(now_ms) - $(cat "$tmp/$g.start"))) ms after its start"
    fi
  done
  exit 1
}

e2e_cleanup() {
  # QEMUs first: each runs under timeout(1), which has its own process group, so a signal to
  # ours does not reach it. Then the subshells waiting for them, the server and the client.
  for f in "$tmp"/*.qpid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for p in $pids; do kill "$p" 2>/dev/null; done
  [ $failed = 0 ] || e2e_print_logs
  for p in $pids; do wait "$p" 2>/dev/null; done
  if [ $interrupted = 1 ]; then
    find "$tmp" -mindepth 1 ! -name '*.log' ! -name '*.qemu' -exec rm -rf {} + 2>/dev/null
    echo "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
}

# Waits (polling, generous bound) until FILE contains PATTERN.
wait_for_line() {
  n=0
  until grep -q "$2" "$1" 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 1200 ] && { fail "'$2' never appeared in $1"; return 1; }
    sleep 0.1
  done
}

# boot NAME SCENARIO ARGS QEMU-ARGS...: one guest in the background; its serial console goes
# to $tmp/NAME.log, QEMU's own output to $tmp/NAME.qemu, its exit status to $tmp/NAME.rc and
# its wall time to $tmp/NAME.time.
boot() {
  name=$1 scenario=$2 args=$3
  shift 3
  guests="$guests $name"
  (
    start=$(now_ms)
    echo "$start" > "$tmp/$name.start"
    timeout "$guest_timeout" "$QEMU" -machine pc -accel tcg -m 256 -nodefaults -display none -no-reboot \
      -monitor none -serial "file:$tmp/$name.log" -device isa-debug-exit,iobase=0xf4,iosize=1 \
      -kernel "$kernel" -initrd "$initrd" \
      -append "console=ttyS0 reboot=t panic=-1 quiet no_timer_check $guest_append nahanni.scenario=$scenario nahanni.args=$args" \
      "$@" > "$tmp/$name.qemu" 2>&1 &
    echo $! > "$tmp/$name.qpid"
    wait $!
    echo $? > "$tmp/$name.rc"
    rm -f "$tmp/$name.qpid"
    echo $(($(now_ms) - start)) > "$tmp/$name.time"
  ) &
  pids="$pids $!"
  eval "pid_$name=\$!"
}

# What QEMU's exit status says about how guest NAME ended.
exit_meaning() {
  case $1 in
    1) echo "its /init reported result 0 through isa-debug-exit" ;;
    0) echo "the guest reset or shut down without reporting (a kernel panic reboots with panic=-1)" ;;
    124) echo "killed by timeout after $guest_timeout s" ;;
    *) if [ "$1" -lt 128 ] && [ $(($1 % 2)) = 1 ]; then
         echo "its /init reported result $(($1 >> 1)) through isa-debug-exit"
       elif [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
         echo "QEMU died by signal $(($1 - 128))"
       else
         echo "QEMU failed"
       fi ;;
  esac
}

# Waits for guest NAME; checks that QEMU ended through the guest's report of result 0 and that
# the serial log has the same result line.
finish() {
  eval "wait \$pid_$1"
  rc=$(cat "$tmp/$1.rc")
  ms=$(cat "$tmp/$1.time")
  under=no; [ "$ms" -lt 30000 ] && under=yes
  echo "guest $1: QEMU exit $rc ($(exit_meaning "$rc")), $ms ms from start to exit, under 30 s: $under"
  [ "$rc" = 1 ] || fail "QEMU for guest $1 exited with $rc, not 1: $(exit_meaning "$rc"); QEMU said: $(cat "$tmp/$1.qemu")"
  grep -q "nahanni-guest: result rc=0" "$tmp/$1.log" || fail "guest $1 did not finish its scenario with rc=0"
}

# One line for every guest's wall time against the 30 s goal (reported, not asserted).
e2e_summary() {
  line="" all=yes
  for g in $guests; do
    [ -f "$tmp/$g.time" ] || continue
    ms=$(cat "$tmp/$g.time")
    if [ "$ms" -lt 30000 ]; then line="$line $g $ms ms (under 30 s);"; else line="$line $g $ms ms (NOT under 30 s);"; all=no; fi
  done
  echo "wall time from QEMU's start to its exit:$line every guest under 30 s: $all"
}

# Ends the test: the summary, the logs on failure (or always with $1 = verbose), the verdict.
e2e_finish() {
  e2e_summary
  if [ $failed != 0 ] || [ -n "${1:-}" ]; then
    e2e_print_logs
  fi
  [ $failed = 0 ] || exit 1
  echo "PASS"
}
