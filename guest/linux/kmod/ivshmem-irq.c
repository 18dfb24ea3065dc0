// SPDX-License-Identifier: GPL-2.0-only
/*
 * nahanni_ivshmem: interrupts. MSI-X when the function has it (one Linux IRQ per vector, up
 * to IVSHMEM_MAX_VECTORS), else INTx through IntrMask/IntrStatus (one vector, a shared line),
 * else none (ivshmem-plain). Every ring is handed to ivshmem_deliver, which marks it pending
 * in every open file and signals the eventfds bound to that vector.
 */
#include <linux/interrupt.h>

#include "ivshmem-drv.h"

void ivshmem_deliver(struct ivshmem_dev *idev, u64 vectors)
{
	struct ivshmem_file *f;
	unsigned long flags;

	spin_lock_irqsave(&idev->files_lock, flags);
	list_for_each_entry(f, &idev->files, node) {
		unsigned int v;

		f->pending |= vectors;
		for (v = 0; v < idev->nvectors; v++)
			if ((vectors & BIT_ULL(v)) && f->eventfds[v])
				eventfd_signal(f->eventfds[v], 1);
		wake_up_interruptible(&f->wait);
	}
	spin_unlock_irqrestore(&idev->files_lock, flags);
}

static irqreturn_t ivshmem_msix_handler(int irq, void *cookie)
{
	struct ivshmem_vector *vec = cookie;

	ivshmem_deliver(vec->idev, BIT_ULL(vec->index));
	return IRQ_HANDLED;
}

/*
 * INTx: the line may be shared, so claim the interrupt only when IntrStatus says it is ours.
 * Reading IntrStatus clears it, which deasserts the pin. All ones means the device is gone
 * (a read from a removed function).
 */
static irqreturn_t ivshmem_intx_handler(int irq, void *cookie)
{
	struct ivshmem_vector *vec = cookie;
	u32 status = ioread32(vec->idev->regs + IVSHMEM_REG_INTR_STATUS);

	if (status == 0 || status == ~0u)
		return IRQ_NONE;
	ivshmem_deliver(vec->idev, BIT_ULL(0));
	return IRQ_HANDLED;
}

int ivshmem_setup_irqs(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	irq_handler_t handler;
	unsigned long irq_flags = 0;
	int wanted, got, i, err;

	idev->irq_mode = IVSHMEM_IRQ_NONE;
	idev->nvectors = 0;

	wanted = pci_msix_vec_count(pdev);
	if (wanted > 0) {
		got = pci_alloc_irq_vectors(pdev, 1, min(wanted, IVSHMEM_MAX_VECTORS), PCI_IRQ_MSIX);
		if (got < 0) {
			dev_warn(&pdev->dev, "MSI-X unavailable (%d), trying INTx\n", got);
		} else {
			idev->irq_mode = IVSHMEM_IRQ_MSIX;
			idev->nvectors = got;
			if (wanted > got)
				dev_info(&pdev->dev, "using %d of %d MSI-X vectors\n", got, wanted);
		}
	}
	if (idev->irq_mode == IVSHMEM_IRQ_NONE && pdev->pin && pdev->irq) {
		got = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_LEGACY);
		if (got == 1) {
			/* Command bit 10 clear: a firmware or earlier driver may have left it set. */
			pci_intx(pdev, 1);
			idev->irq_mode = IVSHMEM_IRQ_INTX;
			idev->nvectors = 1;
		}
	}
	if (idev->irq_mode == IVSHMEM_IRQ_NONE)
		return 0;

	if (idev->irq_mode == IVSHMEM_IRQ_MSIX) {
		handler = ivshmem_msix_handler;
		/* MSI-X messages are memory writes by the function: they need bus mastering. */
		pci_set_master(pdev);
	} else {
		handler = ivshmem_intx_handler;
		irq_flags = IRQF_SHARED;
		/* Start clean: nothing of ours pending, the peer interrupt masked until requested. */
		iowrite32(0, idev->regs + IVSHMEM_REG_INTR_MASK);
		ioread32(idev->regs + IVSHMEM_REG_INTR_STATUS);
	}

	for (i = 0; i < idev->nvectors; i++) {
		struct ivshmem_vector *vec = &idev->vectors[i];

		vec->idev = idev;
		vec->index = i;
		err = request_irq(pci_irq_vector(pdev, i), handler, irq_flags, idev->name, vec);
		if (err) {
			dev_err(&pdev->dev, "cannot request IRQ for vector %d: %d\n", i, err);
			ivshmem_teardown_irqs(idev);
			return err;
		}
		vec->requested = true;
	}
	if (idev->irq_mode == IVSHMEM_IRQ_INTX)
		iowrite32(1, idev->regs + IVSHMEM_REG_INTR_MASK);
	return 0;
}

void ivshmem_teardown_irqs(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int i;

	if (idev->irq_mode == IVSHMEM_IRQ_NONE)
		return;
	if (idev->irq_mode == IVSHMEM_IRQ_INTX)
		iowrite32(0, idev->regs + IVSHMEM_REG_INTR_MASK);
	for (i = 0; i < idev->nvectors; i++) {
		struct ivshmem_vector *vec = &idev->vectors[i];

		if (vec->requested) {
			/* free_irq waits for a running handler, so none runs after this. */
			free_irq(pci_irq_vector(pdev, i), vec);
			vec->requested = false;
		}
	}
	pci_free_irq_vectors(pdev);
	if (idev->irq_mode == IVSHMEM_IRQ_MSIX)
		pci_clear_master(pdev);
	/* nvectors and irq_mode stay: ioctls after removal say ENODEV anyway, info is kept. */
}
