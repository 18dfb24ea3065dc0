#!/bin/sh
# End-to-end tests of the nahanni_ivshmem kernel module with Debian's kernel under Debian's
# QEMU (TCG, -machine pc), guests on our ivshmem-server:
#   run-kmod-e2e.sh msix-pair    two guests exchange data and doorbells, MSI-X, 2 vectors
#                                (eventfd on one side, read()/poll() on the other), then
#                                ivshmem-guest ping/pong on its kmod backend
#   run-kmod-e2e.sh intx-pair    the same with msi=off: INTx through IntrStatus/IntrMask
#                                (WAIT ioctl on one side, read()/poll() on the other)
#   run-kmod-e2e.sh unplug       removal of held devices (scenarios/kmod-unplug.sh): sysfs
#                                unbind of a doorbell ringing itself, and bind; rmmod, modprobe;
#                                sysfs unbind of a plain device, and bind; hot-plug of a plain
#                                device on a host file, device_del while held, device_add
#                                again; device_del of the doorbell ringing itself; rmmod
# Environment: QEMU, IVSHMEM_SERVER, IVSHMEM_GUEST (for host file checks), KMOD_IMAGE (build-overlay.sh's folder), LINUX_GUEST_IMAGE
# (the Linux guest image's folder: its kernel, vmlinux when the builder could decompress it,
# which boots much faster under TCG, else vmlinuz).
# QEMU 7.2's ivshmem-doorbell has no INTx mode (no msi property), so intx-pair runs only on an
# emulator that has one: KMOD_INTX_EMULATOR (default QEMU) is probed for ivshmem-doorbell.msi.
# Exit 77 (skip) without QEMU, the kernel headers or the image's host tools, or when the
# module was built for another kernel than the image's. Guests, their logs and how they end:
# tests/interop/linux-guest/e2e-lib.sh (a failure or an interruption prints every serial log,
# KMOD_E2E_VERBOSE=1 always; wall times are printed against the 30 s goal, not asserted).
set -u

test=${1:?usage: run-kmod-e2e.sh msix-pair|intx-pair|unplug}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../linux-guest/e2e-lib.sh"
rounds=16

if [ -z "${QEMU:-}" ] || [ ! -x "$QEMU" ]; then
  echo "SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
  exit 77
fi
status=$(cat "$KMOD_IMAGE/status" 2>/dev/null || echo "error: $KMOD_IMAGE/status missing: the image was not built")
case $status in
  ok*) ;;
  skip:*) echo "SKIP: ${status#skip: }"; exit 77 ;;
  *) echo "FAIL: no guest image: ${status#error: }"; exit 1 ;;
esac
echo "guest kernel: ${status#ok }"

kernel=$LINUX_GUEST_IMAGE/vmlinuz
[ -s "$LINUX_GUEST_IMAGE/vmlinux" ] && kernel=$LINUX_GUEST_IMAGE/vmlinux

initrd=$KMOD_IMAGE/initramfs.cpio.gz
guest_timeout=120
e2e_init nahanni-kmod-e2e

start_server() {
  "$IVSHMEM_SERVER" -F -v -S "$tmp/sock" -l 1M -n "$1" > "$tmp/server.log" 2>&1 &
  pids="$pids $!"
  wait_for_line "$tmp/server.log" "listening on"
}

# Slab red zones, sanity checks and poisoning: a use after free or an overrun by the module
# is then reported ("BUG kmalloc-...") instead of passing silently. Debian's kernel has no KASAN.
guest_append="slub_debug=FZP nahanni.modules=nahanni_ivshmem"

# Guest NAME ran its scenario (e2e-lib.sh's finish) and its kernel did not complain.
finish_guest() {
  finish "$1"
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
  finish_guest responder; finish_guest initiator
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
    plain="-object memory-backend-ram,id=m,size=1M,share=on -device ivshmem-plain,id=plaindev,memdev=m"
    truncate -s 1M "$tmp/hotplug.mem"
    qmp() { python3 "$here/qmp.py" "$tmp/qmp" "$@" >> "$tmp/qmp.log" 2>&1 || fail "QMP $1 failed: $(tail -n 1 "$tmp/qmp.log")"; }
    # shellcheck disable=SC2046,SC2086
    boot guest kmod-unplug "" -qmp "unix:$tmp/qmp,server=on,wait=off" $plain $(doorbell vectors=2)
    # Hot-plug a plain device whose memory is a host file; unplug it while held; add it again
    # (a new device on a new backend on the same file).
    if wait_for_line "$tmp/guest.log" "^kmod-unplug: waiting for a hot-plugged plain device"; then
      qmp object-add '{"qom-type":"memory-backend-file","id":"m2","size":1048576,"share":true,"mem-path":"'"$tmp/hotplug.mem"'"}'
      qmp device_add '{"driver":"ivshmem-plain","id":"plaindev2","memdev":"m2"}'
    fi
    if wait_for_line "$tmp/guest.log" "^kmod-unplug: unplug the plain device now"; then
      qmp device_del '{"id":"plaindev2"}' --wait-event DEVICE_DELETED
    fi
    if wait_for_line "$tmp/guest.log" "^kmod-unplug: waiting for the plain device to come back"; then
      # A new backend on the same file: QEMU 7.2 cannot give a backend to a second device
      # (it asserts in qemu_ram_set_idstr), even after the first is gone.
      qmp object-add '{"qom-type":"memory-backend-file","id":"m3","size":1048576,"share":true,"mem-path":"'"$tmp/hotplug.mem"'"}'
      qmp device_add '{"driver":"ivshmem-plain","id":"plaindev3","memdev":"m3"}'
    fi
    # The guest rings itself (a child of the holder), so the doorbell goes while MSI-X fires.
    # (Ringing it from host clients that join and leave made QEMU 7.2 abort with a double
    # free during device_del; see docs/devel/linux-kmod.rst.) Last, because QEMU 7.2 crashes
    # at the next change of its memory map after a doorbell's unplug.
    if wait_for_line "$tmp/guest.log" "^kmod-unplug: unplug the doorbell now"; then
      qmp device_del '{"id":"dbdev"}' --wait-event DEVICE_DELETED
    fi
    finish_guest guest
    for step in "doorbell unbound with MSI-X firing, and bound again, done" \
                "unbind with the device held, and bind again, done" \
                "hot-plugged plain device bound and working" "plain device unplugged while held, done" \
                "plain device added again, bound and working" "doorbell unplugged while held, done" \
                "unload, reload and unload done"; do
      grep -q "^kmod-unplug: $step" "$tmp/guest.log" || fail "the guest did not get to '$step'"
    done
    [ "$(grep -c "^hold: every operation after removal failed cleanly" "$tmp/guest.log")" = 4 ] ||
      fail "not every removal (sysfs unbind and device_del of a doorbell and of a plain device) was handled cleanly"
    [ "$(grep -c "^hold: blocked .* returned -1 (No such device)" "$tmp/guest.log")" = 8 ] ||
      fail "not every blocked read/wait was woken with ENODEV (two per removal, four removals)"
    [ "$(grep -c "^hold: self-ringer stopped after [1-9][0-9]* rings: No such device" "$tmp/guest.log")" = 2 ] ||
      fail "the self-ringer did not ring until the doorbell was gone (sysfs unbind and device_del)"
    "$IVSHMEM_GUEST" check -f "$tmp/hotplug.mem" --seed 6 --offset 64K --length 64K > /dev/null ||
      fail "the file behind the re-added device does not hold the guest's pattern"
    ;;
  *) echo "run-kmod-e2e.sh: unknown test $test"; exit 2 ;;
esac

e2e_finish "${KMOD_E2E_VERBOSE:-}"
