#!/bin/sh
# kmod-pair ROLE ROUNDS WAIT IRQ VECTORS: two guests ping-pong through nahanni_ivshmem.
# ROLE initiate or respond; WAIT eventfd, read or ioctl; IRQ msix or intx; VECTORS the
# least vector count the module must report. The initiator also checks argument validation.
# Then the same pair runs ivshmem-guest's ping/pong (guest/linux) on its kmod backend, with
# its mailbox at 64 KiB, clear of ivshmem-kmod's.
set -e
role=$1 rounds=$2 wait=$3 irq=$4 vectors=$5
ivshmem-kmod -d doorbell expect doorbell "$irq" "$vectors"
[ "$role" = initiate ] && ivshmem-kmod -d doorbell validate
ivshmem-kmod -d doorbell "$role" "$rounds" "$wait"
case $role in
  initiate) ivshmem-guest ping -d doorbell --backend kmod --offset 64K --count "$rounds" -v ;;
  respond) ivshmem-guest pong -d doorbell --backend kmod --offset 64K --count "$rounds" -v ;;
esac
grep ivshmem /proc/interrupts || true
if dmesg | grep -E "BUG|Oops|WARNING:|Call Trace|Poison"; then echo "kmod-pair: kernel complained"; exit 1; fi
