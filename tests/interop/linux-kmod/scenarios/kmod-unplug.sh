#!/bin/sh
# kmod-unplug: a plain device that stays and a doorbell device that the host unplugs
# (QMP device_del once "hold: holding" is printed) while ivshmem-kmod holds it open and
# mapped. Then the module is unloaded and loaded again, and must bind the plain device anew;
# the plain device is then unbound through sysfs while held, and bound again.
set -e
ivshmem-kmod list
ivshmem-kmod -d plain expect plain none 0
ivshmem-kmod -d plain validate
ivshmem-kmod -d plain memcheck
ivshmem-kmod -d doorbell expect doorbell msix 2
ivshmem-kmod -d doorbell hold
echo "kmod-unplug: devices left: $(ls /dev | grep ivshmem | tr '\n' ' ')"
[ "$(ls /dev | grep -c ivshmem)" = 1 ] || { echo "kmod-unplug: want exactly one device left"; exit 1; }
rmmod nahanni_ivshmem
[ ! -e /sys/bus/pci/drivers/nahanni_ivshmem ] || { echo "kmod-unplug: driver still registered after rmmod"; exit 1; }
ls /dev | grep ivshmem && { echo "kmod-unplug: device node left after rmmod"; exit 1; }
modprobe nahanni_ivshmem
ivshmem-kmod -d plain expect plain none 0
ivshmem-kmod -d plain memcheck
# Unbind through sysfs while a holder has the (plain) device open and mapped, then bind again.
node=$(ls /dev | grep ivshmem)
bdf=$(basename "$(readlink -f "/sys/class/misc/$node/device")")
ivshmem-kmod -d plain hold > /tmp/hold.log 2>&1 &
holder=$!
n=0
until grep -q "^hold: holding" /tmp/hold.log; do
  n=$((n + 1))
  [ $n -gt 300 ] && { cat /tmp/hold.log; echo "kmod-unplug: the holder did not start"; exit 1; }
  sleep 0.1
done
echo "$bdf" > /sys/bus/pci/drivers/nahanni_ivshmem/unbind
rc=0
wait $holder || rc=$?
cat /tmp/hold.log
[ $rc = 0 ] || { echo "kmod-unplug: the holder failed after unbind ($rc)"; exit 1; }
echo "$bdf" > /sys/bus/pci/drivers/nahanni_ivshmem/bind
ivshmem-kmod -d plain memcheck
echo "kmod-unplug: unbind with the device held, and bind again, done"
rmmod nahanni_ivshmem
echo "kmod-unplug: unload, reload and unload done"
if dmesg | grep -E "BUG|Oops|WARNING:|Call Trace|Poison"; then echo "kmod-unplug: kernel complained"; exit 1; fi
