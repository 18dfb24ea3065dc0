#!/bin/sh
# doorbell-pong COUNT: bind the doorbell to uio_pci_generic and answer COUNT pings.
set -e
ivshmem-guest bind-uio -d doorbell
ivshmem-guest info -d doorbell
ivshmem-guest pong -d doorbell --count "$1" -v
# Still bound to uio_pci_generic after the exchange (the BARs were mapped through sysfs).
ivshmem-guest list
