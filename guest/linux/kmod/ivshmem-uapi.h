/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * nahanni_ivshmem: the userspace interface of /dev/ivshmemN, one node per ivshmem PCI
 * function (1af4:1110 ivshmem-plain, QEMU's doorbell and the legacy device; 1af4:1111
 * nahanni's ivshmem-doorbell). Shared by the kernel module and guest programs; C and C++.
 *
 *   mmap(fd, offset 0..)   the shared memory (BAR2), MAP_SHARED, page-granular, within
 *                          the BAR; write-combining when the BAR is prefetchable.
 *   read(fd, &u64, 8)      blocks until a vector was rung, returns the pending bitmap
 *                          (bit N = vector N) and clears it; EAGAIN with O_NONBLOCK.
 *   poll(fd)               POLLIN while the bitmap is non-zero; POLLERR|POLLHUP once the
 *                          device is gone.
 *   ioctls below           every one returns -1/ENODEV once the device was removed.
 *
 * The pending bitmap and eventfd bindings belong to the open file: every open file sees
 * every ring, and closing the file drops its bindings.
 */
#ifndef NAHANNI_IVSHMEM_UAPI_H
#define NAHANNI_IVSHMEM_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* At most this many vectors are delivered (the pending bitmap is 64 bits wide). */
#define IVSHMEM_MAX_VECTORS 64

/* ivshmem_info.kind */
#define IVSHMEM_KIND_PLAIN 0    /* shared memory only, no doorbell */
#define IVSHMEM_KIND_DOORBELL 1 /* ivshmem-doorbell (QEMU's 1110 rev 1, nahanni's 1111) */
#define IVSHMEM_KIND_LEGACY 2   /* the pre-2.6 "ivshmem" device, revision 0 */

/* ivshmem_info.irq_mode */
#define IVSHMEM_IRQ_NONE 0
#define IVSHMEM_IRQ_MSIX 1
#define IVSHMEM_IRQ_INTX 2

/* ivshmem_info.flags */
#define IVSHMEM_INFO_WRITE_COMBINE (1u << 0) /* mmap is write-combining (else uncached) */

struct ivshmem_info {
	__u64 size;       /* BAR2: the shared memory, bytes */
	__u32 ivposition; /* IVPosition (BAR0 0x08): our peer id, read now */
	__u32 vectors;    /* vectors delivered to userspace (0 without interrupts) */
	__u32 kind;       /* IVSHMEM_KIND_* */
	__u32 revision;   /* PCI revision: 0 legacy, 1 QEMU, 2 nahanni */
	__u32 irq_mode;   /* IVSHMEM_IRQ_* */
	__u32 flags;      /* IVSHMEM_INFO_* */
	__u16 vendor;
	__u16 device;
	__u32 features;   /* revision 2: Features (BAR0 0x10), read now; 0 otherwise */
	__u32 state;      /* revision 2: State (BAR0 0x14), read now; 0 otherwise */
	__u32 reserved[5]; /* zero */
};

struct ivshmem_ring {
	__u32 peer;   /* peer id, 0..65535 */
	__u32 vector; /* that peer's vector, 0..65535 */
	__u32 flags;  /* must be 0 */
};

struct ivshmem_eventfd {
	__s32 fd;     /* an eventfd to signal when vector is rung; -1 unbinds */
	__u32 vector; /* < ivshmem_info.vectors */
	__u32 flags;  /* must be 0 */
};

struct ivshmem_wait {
	__u64 pending;    /* out: the pending bitmap taken (cleared), 0 on timeout */
	__s32 timeout_ms; /* in: -1 waits forever, 0 does not block */
	__u32 flags;      /* must be 0 */
};

#define IVSHMEM_IOC_MAGIC 0xb7
#define IVSHMEM_IOC_INFO _IOR(IVSHMEM_IOC_MAGIC, 0x00, struct ivshmem_info)
#define IVSHMEM_IOC_RING _IOW(IVSHMEM_IOC_MAGIC, 0x01, struct ivshmem_ring)
#define IVSHMEM_IOC_SET_EVENTFD _IOW(IVSHMEM_IOC_MAGIC, 0x02, struct ivshmem_eventfd)
#define IVSHMEM_IOC_WAIT _IOWR(IVSHMEM_IOC_MAGIC, 0x03, struct ivshmem_wait)

#endif /* NAHANNI_IVSHMEM_UAPI_H */
