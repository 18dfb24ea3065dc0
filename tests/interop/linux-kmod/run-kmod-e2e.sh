#!/bin/sh
# End-to-end tests of the nahanni_ivshmem kernel module with Debian's kernel under Debian's
# QEMU (TCG, -machine pc), guests on our ivshmem-server:
#   run-kmod-e2e.sh msix-pair    two guests exchange data and doorbells, MSI-X, 2 vectors
#                                (eventfd on one side, read()/poll() on the other), then
#                                ivshmem-guest ping/pong on its kmod backend
#   run-kmod-e2e.sh intx-pair    the same with msi=off: INTx through IntrStatus/IntrMask
#                                (WAIT ioctl on one side, read()/poll() on the other)
#   run-kmod-e2e.sh unplug       QMP device_del of a doorbell while a process holds it open
#                                and mapped and rings itself; then rmmod, modprobe; sysfs unbind of a held
#                                device and bind; rmmod
# Environment: QEMU, IVSHMEM_SERVER, KMOD_IMAGE (build-overlay.sh's folder), LINUX_GUEST_IMAGE
# (the Linux guest image's folder: its kernel, vmlinux when the builder could decompress it,
# which boots much faster under TCG, else vmlinuz), KMOD_SKIP_REASON (set when meson could
# not build the module).
# QEMU 7.2's ivshmem-doorbell has no INTx mode (no msi property), so intx-pair runs only on an
# emulator that has one: KMOD_INTX_EMULATOR (default QEMU) is probed for ivshmem-doorbell.msi.
# Exit 77 (skip) without QEMU, the kernel headers or the image's host tools. On failure
# every guest's serial log is printed (also with KMOD_E2E_VERBOSE=1). Guest wall times are printed, not asserted.
set -u

test=${1:?usage: run-kmod-e2e.sh msix-pair|intx-pair|unplug}
here=$(cd "$(dirname "$0")" && pwd)
rounds=16

if [ -z "${QEMU:-}" ] || [ ! -x "$QEMU" ]; then
  echo "SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
  exit 77
fi
if [ -n "${KMOD_SKIP_REASON:-}" ]; then
  echo "SKIP: $KMOD_SKIP_REASON"
  exit 77
fi
status=$(cat "$KMOD_IMAGE/status" 2>/dev/null || echo "error: $KMOD_IMAGE/status missing: the image was not built")
case $status in
  ok*) ;;
  skip:*) echo "SKIP: ${status#skip: }"; exit 77 ;;
  *) echo "FAIL: no guest image: ${status#error: }"; exit 1 ;;
esac

kernel=$LINUX_GUEST_IMAGE/vmlinuz
[ -s "$LINUX_GUEST_IMAGE/vmlinux" ] && kernel=$LINUX_GUEST_IMAGE/vmlinux

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nahanni-kmod-e2e.XXXXXX")
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failed=0
fail() { echo "FAIL: $*"; failed=1; }

# Waits (polling, generous bound) until FILE contains PATTERN.
wait_for_line() {
  n=0
  until grep -q "$2" "$1" 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 1200 ] && { fail "'$2' never appeared in $1"; return 1; }
    sleep 0.1
  done
}

start_server() {
  "$IVSHMEM_SERVER" -F -v -S "$tmp/sock" -l 1M -n "$1" > "$tmp/server.log" 2>&1 &
  pids="$pids $!"
  wait_for_line "$tmp/server.log" "listening on"
}

# Slab red zones, sanity checks and poisoning: a use after free or an overrun by the module
# is then reported ("BUG kmalloc-...") instead of passing silently. Debian's kernel has no KASAN.
debug_flags="slub_debug=FZP"
# no_timer_check: a loaded host can make the IO-APIC timer check fail and panic the guest
# (seen by the linux-guest tests).

# boot NAME SCENARIO ARGS QEMU-ARGS...: one guest in the background; serial console in
# $tmp/NAME.log, wall time in $tmp/NAME.time.
boot() {
  name=$1 scenario=$2 args=$3
  shift 3
  (
    start=$(date +%s%N)
    timeout 120 "$QEMU" -machine pc -accel tcg -m 256 -nodefaults -display none -no-reboot \
      -monitor none -serial "file:$tmp/$name.log" \
      -kernel "$kernel" -initrd "$KMOD_IMAGE/initramfs.cpio.gz" \
      -append "console=ttyS0 reboot=t panic=-1 quiet no_timer_check $debug_flags nahanni.modules=nahanni_ivshmem nahanni.scenario=$scenario nahanni.args=$args" \
      "$@" > "$tmp/$name.qemu" 2>&1
    echo $? > "$tmp/$name.rc"
    echo $(( ($(date +%s%N) - start) / 1000000 )) > "$tmp/$name.time"
  ) &
  pids="$pids $!"
  eval "pid_$name=\$!"
}

# Waits for guest NAME; checks that it ran its scenario to rc=0 and the kernel did not oops.
finish() {
  eval "wait \$pid_$1"
  rc=$(cat "$tmp/$1.rc")
  echo "guest $1: QEMU exit $rc, $(cat "$tmp/$1.time") ms from start to exit"
  [ "$rc" = 0 ] || fail "QEMU for guest $1 exited with $rc: $(cat "$tmp/$1.qemu")"
  grep -q "nahanni-guest: result rc=0" "$tmp/$1.log" || fail "guest $1 did not finish its scenario with rc=0"
  if grep -E "BUG|Oops|general protection|Call Trace|Kernel panic|Poison overwritten" "$tmp/$1.log"; then
    fail "guest $1's kernel complained (see its log)"
  fi
  grep -E "^(initiate|respond|ping|pong|hold|validate: all|kmod-unplug):" "$tmp/$1.log" || true
}

doorbell() { echo "-chardev socket,id=db,path=$tmp/sock -device ivshmem-doorbell,id=dbdev,chardev=db,$1"; }

pair() {
  irq=$1 device_opts=$2 vectors=$3 wait_initiator=$4 wait_responder=$5
  start_server "$vectors"
  # shellcheck disable=SC2046
  boot responder kmod-pair "respond,$rounds,$wait_responder,$irq,$vectors" $(doorbell "$device_opts")
  wait_for_line "$tmp/server.log" "peer 0 connected"
  # shellcheck disable=SC2046
  boot initiator kmod-pair "initiate,$rounds,$wait_initiator,$irq,$vectors" $(doorbell "$device_opts")
  finish responder; finish initiator
  grep -q "^initiate: $rounds round trips" "$tmp/initiator.log" || fail "the initiator did not report $rounds round trips"
  grep -q "^respond: answered $rounds requests" "$tmp/responder.log" || fail "the responder did not answer $rounds requests"
  grep -q "^validate: all checks passed" "$tmp/initiator.log" || fail "argument validation did not pass"
  grep -q "^ping: $rounds round trips" "$tmp/initiator.log" || fail "ivshmem-guest ping (kmod backend) did not report $rounds round trips"
  grep -q "^pong: answered $rounds pings" "$tmp/responder.log" || fail "ivshmem-guest pong (kmod backend) did not answer $rounds pings"
}

case $test in
  msix-pair) pair msix vectors=2 2 read eventfd ;;
  intx-pair)
    QEMU=${KMOD_INTX_EMULATOR:-$QEMU}
    if ! "$QEMU" -device ivshmem-doorbell,help 2>/dev/null | grep -q "^ *msi="; then
      echo "SKIP: $QEMU's ivshmem-doorbell has no msi property, so no INTx mode (QEMU 7.2 has MSI-X only);"
      echo "      set KMOD_INTX_EMULATOR to an emulator with ivshmem-doorbell,msi=off that boots Linux"
      exit 77
    fi
    pair intx vectors=1,msi=off 1 read ioctl ;;
  unplug)
    start_server 2
    plain="-object memory-backend-ram,id=m,size=1M,share=on -device ivshmem-plain,memdev=m"
    # shellcheck disable=SC2046,SC2086
    boot guest kmod-unplug "" -qmp "unix:$tmp/qmp,server=on,wait=off" $plain $(doorbell vectors=2)
    if wait_for_line "$tmp/guest.log" "^hold: holding"; then
      # The guest rings itself (a child of the holder), so the device goes while MSI-X fires.
      # (Ringing it from host clients that join and leave made QEMU 7.2 abort with a double
      # free during device_del; see docs/devel/linux-kmod.rst.)
      if wait_for_line "$tmp/guest.log" "^hold: first ring arrived"; then
        python3 "$here/qmp.py" "$tmp/qmp" device_del '{"id":"dbdev"}' --wait-event DEVICE_DELETED \
          > "$tmp/qmp.out" 2>&1 || fail "device_del did not complete: $(cat "$tmp/qmp.out")"
      fi
    fi
    finish guest
    grep -q "^hold: every operation after removal failed cleanly" "$tmp/guest.log" ||
      fail "the holder did not see the removal handled cleanly"
    grep -q "^kmod-unplug: unbind with the device held, and bind again, done" "$tmp/guest.log" ||
      fail "sysfs unbind with the device held did not complete"
    grep -q "^kmod-unplug: unload, reload and unload done" "$tmp/guest.log" || fail "module unload/reload did not complete"
    [ "$(grep -c "^hold: blocked .* returned -1 (No such device)" "$tmp/guest.log")" = 4 ] ||
      fail "not every blocked read/wait was woken with ENODEV (two per removal)"
    grep -q "^hold: self-ringer stopped after [1-9][0-9]* rings: No such device" "$tmp/guest.log" ||
      fail "the self-ringer did not ring until the device was gone"
    ;;
  *) echo "run-kmod-e2e.sh: unknown test $test"; exit 2 ;;
esac

if [ $failed != 0 ] || [ -n "${KMOD_E2E_VERBOSE:-}" ]; then
  for log in "$tmp"/*.log; do
    echo "----- $(basename "$log") -----"
    cat "$log"
  done
  [ $failed != 0 ] && exit 1
fi
echo "PASS"
