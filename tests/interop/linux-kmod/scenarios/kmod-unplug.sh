#!/bin/sh
# kmod-unplug: removal while held, every way QEMU 7.2 can do it. A process (ivshmem-kmod hold)
# keeps the device open and mapped, with an eventfd bound and two children blocked in it, and
# on a doorbell a third child ringing the guest's own peer id, so MSI-X fires during removal:
#   1. the doorbell is unbound through sysfs, then bound again and used;
#   2. rmmod, modprobe: both are bound anew; the plain device is unbound through sysfs while
#      held, and bound again;
#   3. the host hot-plugs a second plain device on a host file (on "waiting for a hot-plugged
#      plain device"), which must bind; the guest writes pattern 5 to it (at 64 KiB: hold writes byte 0, memcheck the last 64 KiB); the host unplugs it
#      while held (on "unplug the plain device now");
#   4. the host adds it again on the same file (on "waiting for the plain device to come
#      back"; a new device and memory backend): the guest finds pattern 5 and writes
#      pattern 6, which the host checks;
#   5. the host unplugs the doorbell while held (on "unplug the doorbell now");
#   6. rmmod.
# The doorbell goes last: after an ivshmem-doorbell is unplugged, QEMU 7.2 crashes (SIGSEGV)
# at the next change of its memory map, such as adding a memory backend (docs/devel/linux-kmod.rst).
set -e

# hold_in_background DEVICE LOG: ivshmem-kmod hold in the background ($holder), output in LOG.
hold_in_background() {
  ivshmem-kmod -d "$1" hold > "$2" 2>&1 &
  holder=$!
}
# wait_for_holder_line LOG PATTERN
wait_for_holder_line() {
  n=0
  until grep -q "$2" "$1"; do
    n=$((n + 1))
    [ $n -gt 600 ] && { cat "$1"; echo "kmod-unplug: the holder never printed '$2'"; exit 1; }
    sleep 0.1
  done
}
# holder_done LOG: the holder must have seen the removal handled cleanly.
holder_done() {
  rc=0
  wait $holder || rc=$?
  cat "$1"
  [ $rc = 0 ] || { echo "kmod-unplug: the holder failed after the removal ($rc)"; exit 1; }
}
bdf_of_node() { basename "$(readlink -f "/sys/class/misc/$1/device")"; }
node_of() { ivshmem-kmod -d "$1" info | sed -n 's|^/dev/\(ivshmem[0-9]*\):.*|\1|p'; }
unbind() { echo "$1" > /sys/bus/pci/drivers/nahanni_ivshmem/unbind; }
bind() { echo "$1" > /sys/bus/pci/drivers/nahanni_ivshmem/bind; }

ivshmem-kmod list
ivshmem-kmod -d plain expect plain none 0
ivshmem-kmod -d plain validate
ivshmem-kmod -d plain memcheck
ivshmem-kmod -d doorbell expect doorbell msix 2
plain_bdf=$(bdf_of_node "$(node_of plain)")
doorbell_bdf=$(bdf_of_node "$(node_of doorbell)")

# 1. sysfs unbind of the doorbell with MSI-X firing and an eventfd bound; bind again, use.
hold_in_background doorbell /tmp/hold-1.log
wait_for_holder_line /tmp/hold-1.log "^hold: first ring arrived"
unbind "$doorbell_bdf"
holder_done /tmp/hold-1.log
bind "$doorbell_bdf"
ivshmem-kmod -d doorbell expect doorbell msix 2
ivshmem-kmod -d doorbell memcheck
echo "kmod-unplug: doorbell unbound with MSI-X firing, and bound again, done"

# 2. Unload and load again; sysfs unbind of the held plain device, and bind again.
rmmod nahanni_ivshmem
[ ! -e /sys/bus/pci/drivers/nahanni_ivshmem ] || { echo "kmod-unplug: driver still registered after rmmod"; exit 1; }
ls /dev | grep ivshmem && { echo "kmod-unplug: device node left after rmmod"; exit 1; }
modprobe nahanni_ivshmem
ivshmem-kmod -d plain expect plain none 0
ivshmem-kmod -d doorbell expect doorbell msix 2
ivshmem-kmod -d plain memcheck
hold_in_background plain /tmp/hold-2.log
wait_for_holder_line /tmp/hold-2.log "^hold: holding"
unbind "$plain_bdf"
holder_done /tmp/hold-2.log
bind "$plain_bdf"
ivshmem-kmod -d plain memcheck
echo "kmod-unplug: unbind with the device held, and bind again, done"

# wait_for_new_device: the node of a function that is neither of the first two, in $new.
wait_for_new_device() {
  new=""
  n=0
  while [ -z "$new" ]; do
    for node in $(ls /dev | grep ivshmem); do
      bdf=$(bdf_of_node "$node")
      [ "$bdf" != "$plain_bdf" ] && [ "$bdf" != "$doorbell_bdf" ] && new=$node
    done
    n=$((n + 1))
    [ $n -gt 600 ] && { ivshmem-kmod list; echo "kmod-unplug: no hot-plugged device appeared"; exit 1; }
    [ -n "$new" ] || sleep 0.1
  done
  ivshmem-kmod -d "/dev/$new" expect plain none 0
  ivshmem-kmod -d "/dev/$new" memcheck
}

# 3. Hot-plug: a plain device binds and works; then it is unplugged while held.
echo "kmod-unplug: waiting for a hot-plugged plain device"
wait_for_new_device
ivshmem-guest fill -d "$(bdf_of_node "$new")" --seed 5 --offset 64K --length 64K
echo "kmod-unplug: hot-plugged plain device bound and working"
hold_in_background "/dev/$new" /tmp/hold-3.log
wait_for_holder_line /tmp/hold-3.log "^hold: holding"
echo "kmod-unplug: unplug the plain device now"
holder_done /tmp/hold-3.log
[ "$(ls /dev | grep -c ivshmem)" = 2 ] || { ivshmem-kmod list; echo "kmod-unplug: want the first two devices left"; exit 1; }
echo "kmod-unplug: plain device unplugged while held, done"

# 4. The same device again, on the same memory.
echo "kmod-unplug: waiting for the plain device to come back"
wait_for_new_device
ivshmem-guest check -d "$(bdf_of_node "$new")" --seed 5 --offset 64K --length 64K
ivshmem-guest fill -d "$(bdf_of_node "$new")" --seed 6 --offset 64K --length 64K
echo "kmod-unplug: plain device added again, bound and working"

# 5. device_del of the doorbell while held, with MSI-X firing.
hold_in_background doorbell /tmp/hold-5.log
wait_for_holder_line /tmp/hold-5.log "^hold: first ring arrived"
echo "kmod-unplug: unplug the doorbell now"
holder_done /tmp/hold-5.log
ivshmem-kmod list
[ "$(ls /dev | grep -c ivshmem)" = 2 ] || { echo "kmod-unplug: want the two plain devices left"; exit 1; }
ivshmem-kmod -d plain memcheck
echo "kmod-unplug: doorbell unplugged while held, done"

# 6.
rmmod nahanni_ivshmem
echo "kmod-unplug: unload, reload and unload done"
if dmesg | grep -E "BUG|Oops|WARNING:|Call Trace|Poison"; then echo "kmod-unplug: kernel complained"; exit 1; fi
