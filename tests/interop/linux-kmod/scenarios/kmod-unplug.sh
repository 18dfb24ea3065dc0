#!/bin/sh
# kmod-unplug: a plain device that stays and a doorbell device that the host unplugs
# (QMP device_del once "hold: holding" is printed) while ivshmem-kmod holds it open and
# mapped. Then the module is unloaded and loaded again, and must bind the plain device anew.
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
rmmod nahanni_ivshmem
echo "kmod-unplug: unload, reload and unload done"
if dmesg | grep -E "BUG|Oops|WARNING:|Call Trace|Poison"; then echo "kmod-unplug: kernel complained"; exit 1; fi
