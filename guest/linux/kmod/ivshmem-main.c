// SPDX-License-Identifier: GPL-2.0-only
/*
 * nahanni_ivshmem: a driver for the inter-VM shared memory PCI devices (1af4:1110, 1af4:1111),
 * giving each function a /dev/ivshmemN (see ivshmem-uapi.h). This file: binding, the
 * device's lifetime and removal.
 */
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "ivshmem-drv.h"

#define PCI_VENDOR_ID_IVSHMEM 0x1af4
#define PCI_DEVICE_ID_IVSHMEM 0x1110          /* plain, QEMU's doorbell, legacy */
#define PCI_DEVICE_ID_IVSHMEM_DOORBELL 0x1111 /* nahanni's ivshmem-doorbell */

static DEFINE_IDA(ivshmem_ida);

static void ivshmem_dev_release(struct kref *ref)
{
	struct ivshmem_dev *idev = container_of(ref, struct ivshmem_dev, ref);

	ida_free(&ivshmem_ida, idev->id);
	kfree(idev);
}

void ivshmem_dev_put(struct ivshmem_dev *idev)
{
	kref_put(&idev->ref, ivshmem_dev_release);
}

/*
 * What the function is. 1111 is always a doorbell. On 1110: revision 0 is the legacy device;
 * revision 2 says so in Features; QEMU's revision 1 has a doorbell exactly when it has MSI-X
 * or an interrupt pin (its ivshmem-plain has neither).
 */
static u32 ivshmem_kind(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;

	if (idev->device == PCI_DEVICE_ID_IVSHMEM_DOORBELL)
		return IVSHMEM_KIND_DOORBELL;
	if (idev->revision == 0)
		return IVSHMEM_KIND_LEGACY;
	if (idev->revision >= 2)
		return (ioread32(idev->regs + IVSHMEM_REG_FEATURES) & IVSHMEM_FEATURE_DOORBELL)
			       ? IVSHMEM_KIND_DOORBELL
			       : IVSHMEM_KIND_PLAIN;
	return (pdev->msix_cap || pdev->pin) ? IVSHMEM_KIND_DOORBELL : IVSHMEM_KIND_PLAIN;
}

static int ivshmem_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivshmem_dev *idev;
	int err;

	idev = kzalloc(sizeof(*idev), GFP_KERNEL);
	if (!idev)
		return -ENOMEM;
	kref_init(&idev->ref);
	init_rwsem(&idev->lock);
	mutex_init(&idev->files_mutex);
	spin_lock_init(&idev->files_lock);
	INIT_LIST_HEAD(&idev->files);
	idev->pdev = pdev;
	idev->vendor = pdev->vendor;
	idev->device = pdev->device;
	idev->revision = pdev->revision;

	idev->id = ida_alloc(&ivshmem_ida, GFP_KERNEL);
	if (idev->id < 0) {
		err = idev->id;
		kfree(idev);
		return err;
	}
	snprintf(idev->name, sizeof(idev->name), "ivshmem%d", idev->id);

	err = pci_enable_device_mem(pdev);
	if (err)
		goto err_put;
	if (!(pci_resource_flags(pdev, IVSHMEM_BAR_REGS) & IORESOURCE_MEM) ||
	    !(pci_resource_flags(pdev, IVSHMEM_BAR_MEM) & IORESOURCE_MEM)) {
		dev_err(&pdev->dev, "BAR0 or BAR2 is not a memory BAR\n");
		err = -ENODEV;
		goto err_disable;
	}
	idev->mem_start = pci_resource_start(pdev, IVSHMEM_BAR_MEM);
	idev->mem_size = pci_resource_len(pdev, IVSHMEM_BAR_MEM);
	if (idev->mem_size < PAGE_SIZE || !PAGE_ALIGNED(idev->mem_start)) {
		/* A partial page cannot be mapped without exposing what lies beside it. */
		dev_err(&pdev->dev, "shared memory BAR (%pa bytes at %pa) is not page-granular\n",
			&idev->mem_size, &idev->mem_start);
		err = -ENODEV;
		goto err_disable;
	}
	err = pci_request_regions(pdev, IVSHMEM_DRV_NAME);
	if (err)
		goto err_disable;
	idev->regs = pci_iomap(pdev, IVSHMEM_BAR_REGS, 0);
	if (!idev->regs) {
		err = -ENOMEM;
		goto err_release;
	}
	idev->kind = ivshmem_kind(idev);

	/* Prefetchable BAR2 (every ivshmem device): write-combining; else uncached. */
	idev->mem_wc = pci_resource_flags(pdev, IVSHMEM_BAR_MEM) & IORESOURCE_PREFETCH;
	if (idev->mem_wc) {
		/* Records the memory type, so faults insert WC pages rather than UC-. */
		idev->mem_wc_reserved = arch_io_reserve_memtype_wc(idev->mem_start, idev->mem_size) == 0;
		if (!idev->mem_wc_reserved)
			dev_info(&pdev->dev, "cannot reserve write-combining for BAR2, mapping uncached\n");
		idev->mem_wc = idev->mem_wc_reserved;
	}

	err = ivshmem_setup_irqs(idev);
	if (err)
		goto err_unmap;

	idev->alive = true;
	pci_set_drvdata(pdev, idev);

	idev->misc.minor = MISC_DYNAMIC_MINOR;
	idev->misc.name = idev->name;
	idev->misc.fops = &ivshmem_fops;
	idev->misc.parent = &pdev->dev;
	idev->misc.mode = 0600;
	err = misc_register(&idev->misc);
	if (err)
		goto err_irqs;
	idev->misc_registered = true;

	dev_info(&pdev->dev, "/dev/%s: %s, revision %u, %pa bytes of shared memory, %u %s vector(s)\n",
		 idev->name,
		 idev->kind == IVSHMEM_KIND_DOORBELL ? "doorbell" :
		 idev->kind == IVSHMEM_KIND_LEGACY ? "legacy" : "plain",
		 idev->revision, &idev->mem_size, idev->nvectors,
		 idev->irq_mode == IVSHMEM_IRQ_MSIX ? "MSI-X" :
		 idev->irq_mode == IVSHMEM_IRQ_INTX ? "INTx" : "no");
	return 0;

err_irqs:
	idev->alive = false;
	pci_set_drvdata(pdev, NULL);
	ivshmem_teardown_irqs(idev);
err_unmap:
	if (idev->mem_wc_reserved)
		arch_io_free_memtype_wc(idev->mem_start, idev->mem_size);
	pci_iounmap(pdev, idev->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_put:
	ivshmem_dev_put(idev);
	return err;
}

/*
 * Unbind and hot-unplug. Open files keep idev; from here on they only see !alive.
 * Order: no new opens; alive cleared and mappings zapped under the write lock (waits for
 * ioctls and faults in progress); interrupts off; removed set and waiters woken; the
 * hardware released; our reference dropped.
 */
static void ivshmem_remove(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	if (idev->misc_registered)
		misc_deregister(&idev->misc);

	down_write(&idev->lock);
	idev->alive = false;
	ivshmem_files_zap(idev);
	up_write(&idev->lock);

	ivshmem_teardown_irqs(idev);
	WRITE_ONCE(idev->removed, true);
	ivshmem_files_wake(idev);

	if (idev->mem_wc_reserved)
		arch_io_free_memtype_wc(idev->mem_start, idev->mem_size);
	pci_iounmap(pdev, idev->regs);
	idev->regs = NULL;
	idev->pdev = NULL;
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	dev_info(&pdev->dev, "/dev/%s removed\n", idev->name);
	ivshmem_dev_put(idev);
}

static const struct pci_device_id ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_IVSHMEM, PCI_DEVICE_ID_IVSHMEM) },
	{ PCI_DEVICE(PCI_VENDOR_ID_IVSHMEM, PCI_DEVICE_ID_IVSHMEM_DOORBELL) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, ivshmem_ids);

static struct pci_driver ivshmem_driver = {
	.name = IVSHMEM_DRV_NAME,
	.id_table = ivshmem_ids,
	.probe = ivshmem_probe,
	.remove = ivshmem_remove,
};
module_pci_driver(ivshmem_driver);

MODULE_DESCRIPTION("nahanni inter-VM shared memory (ivshmem) PCI devices: /dev/ivshmemN");
MODULE_AUTHOR("The nahanni authors");
MODULE_LICENSE("GPL");
