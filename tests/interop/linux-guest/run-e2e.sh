#!/bin/sh
# End-to-end tests with real Linux guests under Debian's QEMU (TCG, -machine pc).
#   run-e2e.sh doorbell-pair   two guests ping-pong data and doorbells on our ivshmem-server
#   run-e2e.sh doorbell-host   a guest and ivshmem-client --echo on the host ring each other
#   run-e2e.sh plain-pair      two guests and the host share a memory-backend-file
# Environment: QEMU, IVSHMEM_SERVER, IVSHMEM_CLIENT, IVSHMEM_GUEST (the tool, run on the host
# for file checks), LINUX_GUEST_IMAGE (build-image.sh's output folder).
# Exit 77 (skip) without QEMU or without an image that could be built for a missing tool.
# Guests, their logs and how they end: e2e-lib.sh (a failure or an interruption prints every
# guest's serial log; wall times are printed against the 30 s goal, not asserted).
# Kernel flags: reboot=t makes a reboot (a panic, with panic=-1) a triple fault, which ends
# QEMU under -no-reboot; no_timer_check skips the IO-APIC timer test, which a loaded host can
# fail under TCG ("IO-APIC + timer doesn't work!" panic, seen here at load average 16).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e-lib.sh"

test=${1:?usage: run-e2e.sh doorbell-pair|doorbell-host|plain-pair}
image=${LINUX_GUEST_IMAGE:?}
rounds=20

if [ -z "${QEMU:-}" ] || [ ! -x "$QEMU" ]; then
  echo "SKIP: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
  exit 77
fi
status=$(cat "$image/status" 2>/dev/null || echo "error: $image/status missing: the guest image was not built")
case $status in
  ok*) ;;
  skip:*) echo "SKIP: ${status#skip: }"; exit 77 ;;
  *) echo "FAIL: no guest image: ${status#error: }"; exit 1 ;;
esac
echo "guest kernel: ${status#ok }"

# The uncompressed kernel (PVH entry) boots in less than half the time under TCG.
kernel=$image/vmlinux
[ -s "$kernel" ] || kernel=$image/vmlinuz

initrd=$image/initramfs.cpio.gz
guest_append=""
guest_timeout=300
e2e_init nahanni-linux-e2e

start_server() {
  "$IVSHMEM_SERVER" -F -v -S "$tmp/sock" -l 1M -n 1 > "$tmp/server.log" 2>&1 &
  pids="$pids $!"
  wait_for_line "$tmp/server.log" "listening on"
}

# Guest NAME ran its scenario; prints its ping/pong lines.
finish_guest() {
  finish "$1"
  grep -E "^(ping|pong):" "$tmp/$1.log" || true
}

doorbell_device() { echo "-chardev socket,id=db,path=$tmp/sock -device ivshmem-doorbell,chardev=db,vectors=1"; }

case $test in
  doorbell-pair)
    start_server
    # shellcheck disable=SC2046
    boot pong doorbell-pong "$rounds" $(doorbell_device)
    wait_for_line "$tmp/server.log" "peer 0 connected"
    # shellcheck disable=SC2046
    boot ping doorbell-ping "$rounds" $(doorbell_device)
    finish_guest pong; finish_guest ping
    grep -q "^ping: $rounds round trips" "$tmp/ping.log" || fail "the pinging guest did not report $rounds round trips"
    grep -q "^pong: answered $rounds pings" "$tmp/pong.log" || fail "the ponging guest did not answer $rounds pings"
    # What this exercises of the uio path: both doorbells bound to uio_pci_generic for the
    # whole exchange, registers and memory mapped through sysfs's resource files, rings
    # received by msix-poll (QEMU 7.2's doorbell has no pin, so /dev/uioN never fires).
    for g in ping pong; do
      grep -q "bound to uio_pci_generic: /dev/uio" "$tmp/$g.log" || fail "guest $g did not bind its doorbell to uio_pci_generic"
      [ "$(grep -c "^0000:00:02.0 doorbell (QEMU, 1af4:1110 rev 1) memory 1024 KiB msix driver uio_pci_generic" "$tmp/$g.log")" = 2 ] ||
        fail "guest $g's doorbell was not bound to uio_pci_generic before and after the exchange"
      grep -q "backend msix-poll" "$tmp/$g.log" || fail "guest $g did not receive through the msix-poll backend"
    done
    ;;
  doorbell-host)
    start_server
    # The host client connects first, so it is peer 0 and the guest peer 1. It rings back
    # every ring (--echo serves until killed; -v logs each notification with its count).
    "$IVSHMEM_CLIENT" -S "$tmp/sock" --echo -v > "$tmp/client.log" 2>&1 &
    pids="$pids $!"
    wait_for_line "$tmp/server.log" "peer 0 connected"
    # shellcheck disable=SC2046
    boot guest echo-ping "0,$rounds" $(doorbell_device)
    finish_guest guest
    # The guest waits for each ring back before ringing again, so no two rings coalesce.
    got=$(sed -n 's/^notification on vector 0 (count \([0-9]*\))$/\1/p' "$tmp/client.log" | awk '{ n += $1 } END { print n + 0 }')
    [ "$got" = "$rounds" ] || fail "ivshmem-client on the host saw $got rings from the guest, expected $rounds"
    grep -q "^ping: $rounds round trips" "$tmp/guest.log" || fail "the guest did not see $rounds rings back"
    # What the guest can observe of QEMU's doorbell: revision 1, MSI-X, no interrupt pin.
    grep -q "^0000:00:02.0 doorbell (QEMU, 1af4:1110 rev 1) memory 1024 KiB msix driver" "$tmp/guest.log" ||
      fail "the guest did not identify QEMU's ivshmem-doorbell"
    ;;
  plain-pair)
    mem=$tmp/plain.mem
    truncate -s 1M "$mem"
    "$IVSHMEM_GUEST" fill -f "$mem" --seed 1 --length 256K > /dev/null || fail "host fill failed"
    plain="-object memory-backend-file,id=m,size=1M,share=on,mem-path=$mem -device ivshmem-plain,memdev=m"
    # shellcheck disable=SC2086
    boot a plain-pair a $plain
    # shellcheck disable=SC2086
    boot b plain-pair b $plain
    finish_guest a; finish_guest b
    for g in a b; do
      grep -q "^0000:00:02.0 plain (QEMU, 1af4:1110 rev 1) memory 1024 KiB driver none" "$tmp/$g.log" ||
        fail "guest $g did not identify QEMU's ivshmem-plain"
    done
    "$IVSHMEM_GUEST" check -f "$mem" --seed 2 --offset 256K --length 256K || fail "guest a's bytes are not in the file"
    "$IVSHMEM_GUEST" check -f "$mem" --seed 3 --offset 512K --length 256K || fail "guest b's bytes are not in the file"
    "$IVSHMEM_GUEST" check -f "$mem" --seed 1 --length 256K > /dev/null || fail "the host's bytes changed"
    ;;
  *) echo "run-e2e.sh: unknown test $test"; exit 2 ;;
esac

e2e_finish
