/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nahanni_ivshmem internals: one struct ivshmem_dev per bound PCI function, one struct
 * ivshmem_file per open file of its /dev/ivshmemN.
 *
 * Lifetime: the device is reference counted; the PCI binding holds one reference and every
 * open file one more, so open files outlive removal. Removal clears ->alive and zaps every
 * mapping while holding ->lock for writing (faults and ioctls wait, then see !alive: SIGBUS,
 * -ENODEV), then sets ->removed for the lockless paths (read, poll, waits) and wakes them.
 * Any -ENODEV a program sees therefore comes after its mappings are gone.
 *
 * Locking order: mmap_lock -> ivshmem_dev.lock -> files_mutex -> files_lock (irq-safe).
 * Never copy to or from userspace while holding ->lock: the user buffer may be our own
 * mapping, whose fault handler takes ->lock.
 */
#ifndef NAHANNI_IVSHMEM_DRV_H
#define NAHANNI_IVSHMEM_DRV_H

#include <linux/eventfd.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "ivshmem-uapi.h"

#define IVSHMEM_DRV_NAME "nahanni_ivshmem"

/* BAR0 registers (docs/specs/ivshmem-spec.rst). */
#define IVSHMEM_REG_INTR_MASK 0x00
#define IVSHMEM_REG_INTR_STATUS 0x04
#define IVSHMEM_REG_IVPOSITION 0x08
#define IVSHMEM_REG_DOORBELL 0x0c
#define IVSHMEM_REG_FEATURES 0x10 /* revision 2 */
#define IVSHMEM_REG_STATE 0x14    /* revision 2 */
#define IVSHMEM_FEATURE_DOORBELL (1u << 0)

#define IVSHMEM_BAR_REGS 0
#define IVSHMEM_BAR_MEM 2

struct ivshmem_dev;

/* The cookie of one requested IRQ: which device, which vector. */
struct ivshmem_vector {
	struct ivshmem_dev *idev;
	unsigned int index;
	bool requested;
};

struct ivshmem_dev {
	struct kref ref;
	struct rw_semaphore lock; /* guards alive and everything that touches the device */
	bool alive;
	bool removed; /* set (lockless readers) once removal has zapped every mapping */

	struct pci_dev *pdev; /* only while alive */
	void __iomem *regs;   /* BAR0, only while alive */
	resource_size_t mem_start, mem_size;
	bool mem_wc;          /* BAR2 prefetchable: mapped write-combining */
	bool mem_wc_reserved; /* we reserved the WC memtype for BAR2 */

	u16 vendor, device;
	u8 revision;
	u32 kind;     /* IVSHMEM_KIND_* */
	u32 irq_mode; /* IVSHMEM_IRQ_* */
	unsigned int nvectors;
	struct ivshmem_vector vectors[IVSHMEM_MAX_VECTORS];

	/* Open files. Changed under files_mutex and files_lock; the IRQ path takes files_lock. */
	struct mutex files_mutex;
	spinlock_t files_lock;
	struct list_head files;

	int id; /* N of /dev/ivshmemN */
	char name[24];
	struct miscdevice misc;
	bool misc_registered;
};

struct ivshmem_file {
	struct ivshmem_dev *idev;
	struct file *file;
	struct list_head node;
	wait_queue_head_t wait;
	u64 pending; /* under idev->files_lock */
	struct eventfd_ctx *eventfds[IVSHMEM_MAX_VECTORS]; /* under idev->files_lock */
};

/* ivshmem-irq.c */
int ivshmem_setup_irqs(struct ivshmem_dev *idev);
void ivshmem_teardown_irqs(struct ivshmem_dev *idev);
void ivshmem_deliver(struct ivshmem_dev *idev, u64 vectors);

/* ivshmem-file.c */
extern const struct file_operations ivshmem_fops;
void ivshmem_files_zap(struct ivshmem_dev *idev);
void ivshmem_files_wake(struct ivshmem_dev *idev);

/* ivshmem-main.c */
void ivshmem_dev_put(struct ivshmem_dev *idev);

#endif /* NAHANNI_IVSHMEM_DRV_H */
