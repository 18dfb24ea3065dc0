// SPDX-License-Identifier: GPL-2.0-only
/*
 * nahanni_ivshmem: /dev/ivshmemN. Open files hold a device reference, so they survive the
 * device's removal; from then on the mappings are zapped (a later access gets SIGBUS) and
 * every operation fails with -ENODEV (poll reports POLLERR|POLLHUP).
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ivshmem-drv.h"

static int ivshmem_open(struct inode *inode, struct file *file)
{
	/* misc_open calls us under misc_mtx, which misc_deregister also takes: idev is live. */
	struct miscdevice *misc = file->private_data;
	struct ivshmem_dev *idev = container_of(misc, struct ivshmem_dev, misc);
	struct ivshmem_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	init_waitqueue_head(&f->wait);
	f->file = file;

	down_read(&idev->lock);
	if (!idev->alive) {
		up_read(&idev->lock);
		kfree(f);
		return -ENODEV;
	}
	kref_get(&idev->ref);
	f->idev = idev;
	mutex_lock(&idev->files_mutex);
	spin_lock_irq(&idev->files_lock);
	list_add_tail(&f->node, &idev->files);
	spin_unlock_irq(&idev->files_lock);
	mutex_unlock(&idev->files_mutex);
	up_read(&idev->lock);

	file->private_data = f;
	/* Offsets are BAR2 offsets, not a stream position. */
	return nonseekable_open(inode, file);
}

static int ivshmem_release(struct inode *inode, struct file *file)
{
	struct ivshmem_file *f = file->private_data;
	struct ivshmem_dev *idev = f->idev;
	unsigned int v;

	mutex_lock(&idev->files_mutex);
	spin_lock_irq(&idev->files_lock);
	list_del(&f->node);
	spin_unlock_irq(&idev->files_lock);
	mutex_unlock(&idev->files_mutex);

	for (v = 0; v < IVSHMEM_MAX_VECTORS; v++)
		if (f->eventfds[v])
			eventfd_ctx_put(f->eventfds[v]);
	kfree(f);
	ivshmem_dev_put(idev);
	return 0;
}

/* Takes the pending bitmap if non-zero. */
static bool ivshmem_take_pending(struct ivshmem_file *f, u64 *out)
{
	unsigned long flags;

	spin_lock_irqsave(&f->idev->files_lock, flags);
	*out = f->pending;
	f->pending = 0;
	spin_unlock_irqrestore(&f->idev->files_lock, flags);
	return *out != 0;
}

static bool ivshmem_has_pending(struct ivshmem_file *f)
{
	return READ_ONCE(f->pending) != 0;
}

/*
 * Lockless check for the paths that sleep or only look at the file: true once removal has
 * zapped the mappings, so a program told -ENODEV can no longer reach the old BAR.
 */
static bool ivshmem_gone(struct ivshmem_file *f)
{
	return READ_ONCE(f->idev->removed);
}

/*
 * Waits until a vector is pending or the device is gone. timeout: jiffies, or
 * MAX_SCHEDULE_TIMEOUT. Returns 0 with *out (0 on timeout), -ENODEV or -EINTR.
 */
static int ivshmem_wait_pending(struct ivshmem_file *f, long timeout, u64 *out)
{
	long left;

	for (;;) {
		if (ivshmem_gone(f))
			return -ENODEV;
		if (ivshmem_take_pending(f, out))
			return 0;
		if (timeout == 0)
			return 0;
		left = wait_event_interruptible_timeout(f->wait, ivshmem_has_pending(f) || ivshmem_gone(f),
							timeout);
		if (left < 0)
			return -EINTR;
		if (left == 0) {
			/* Timed out; one last look so a ring racing the timeout is not lost. */
			if (ivshmem_gone(f))
				return -ENODEV;
			ivshmem_take_pending(f, out);
			return 0;
		}
		if (timeout != MAX_SCHEDULE_TIMEOUT)
			timeout = left;
	}
}

static ssize_t ivshmem_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct ivshmem_file *f = file->private_data;
	u64 pending = 0;
	int err;

	if (count < sizeof(pending))
		return -EINVAL;
	if (ivshmem_gone(f))
		return -ENODEV;
	if (file->f_flags & O_NONBLOCK) {
		if (!ivshmem_take_pending(f, &pending))
			return -EAGAIN;
	} else {
		do {
			err = ivshmem_wait_pending(f, MAX_SCHEDULE_TIMEOUT, &pending);
			if (err == -EINTR)
				return -ERESTARTSYS;
			if (err)
				return err;
		} while (!pending);
	}
	if (copy_to_user(buf, &pending, sizeof(pending))) {
		/* Do not lose the rings: put them back. */
		spin_lock_irq(&f->idev->files_lock);
		f->pending |= pending;
		spin_unlock_irq(&f->idev->files_lock);
		return -EFAULT;
	}
	return sizeof(pending);
}

static __poll_t ivshmem_poll(struct file *file, poll_table *wait)
{
	struct ivshmem_file *f = file->private_data;

	poll_wait(file, &f->wait, wait);
	if (ivshmem_gone(f))
		return EPOLLERR | EPOLLHUP;
	return ivshmem_has_pending(f) ? EPOLLIN | EPOLLRDNORM : 0;
}

static long ivshmem_ioctl_info(struct ivshmem_file *f, void __user *arg)
{
	struct ivshmem_dev *idev = f->idev;
	struct ivshmem_info info;

	memset(&info, 0, sizeof(info));
	down_read(&idev->lock);
	if (!idev->alive) {
		up_read(&idev->lock);
		return -ENODEV;
	}
	info.size = idev->mem_size;
	info.ivposition = ioread32(idev->regs + IVSHMEM_REG_IVPOSITION);
	info.vectors = idev->nvectors;
	info.kind = idev->kind;
	info.revision = idev->revision;
	info.irq_mode = idev->irq_mode;
	info.flags = idev->mem_wc ? IVSHMEM_INFO_WRITE_COMBINE : 0;
	info.vendor = idev->vendor;
	info.device = idev->device;
	if (idev->revision >= 2) {
		info.features = ioread32(idev->regs + IVSHMEM_REG_FEATURES);
		info.state = ioread32(idev->regs + IVSHMEM_REG_STATE);
	}
	up_read(&idev->lock);

	if (copy_to_user(arg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long ivshmem_ioctl_ring(struct ivshmem_file *f, void __user *arg)
{
	struct ivshmem_dev *idev = f->idev;
	struct ivshmem_ring ring;

	if (copy_from_user(&ring, arg, sizeof(ring)))
		return -EFAULT;
	if (ring.flags || ring.peer > 0xffff || ring.vector > 0xffff)
		return -EINVAL;

	down_read(&idev->lock);
	if (!idev->alive) {
		up_read(&idev->lock);
		return -ENODEV;
	}
	if (idev->kind == IVSHMEM_KIND_PLAIN) {
		up_read(&idev->lock);
		return -EOPNOTSUPP;
	}
	/* Stores to the write-combining mapping become visible before the peer is told. */
	wmb();
	iowrite32((ring.peer << 16) | ring.vector, idev->regs + IVSHMEM_REG_DOORBELL);
	up_read(&idev->lock);
	return 0;
}

static long ivshmem_ioctl_set_eventfd(struct ivshmem_file *f, void __user *arg)
{
	struct ivshmem_dev *idev = f->idev;
	struct ivshmem_eventfd req;
	struct eventfd_ctx *ctx = NULL, *old;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.fd < -1)
		return -EINVAL;
	if (ivshmem_gone(f))
		return -ENODEV;
	/* nvectors is fixed from probe on, so no lock is needed to read it. */
	if (req.vector >= idev->nvectors)
		return -EINVAL;
	if (req.fd >= 0) {
		ctx = eventfd_ctx_fdget(req.fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	spin_lock_irq(&idev->files_lock);
	old = f->eventfds[req.vector];
	f->eventfds[req.vector] = ctx;
	spin_unlock_irq(&idev->files_lock);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static long ivshmem_ioctl_wait(struct ivshmem_file *f, void __user *arg)
{
	struct ivshmem_wait req;
	long timeout;
	int err;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.timeout_ms < -1)
		return -EINVAL;
	timeout = req.timeout_ms < 0 ? MAX_SCHEDULE_TIMEOUT : msecs_to_jiffies(req.timeout_ms);
	req.pending = 0;
	err = ivshmem_wait_pending(f, timeout, &req.pending);
	if (err)
		return err;
	if (copy_to_user(arg, &req, sizeof(req))) {
		spin_lock_irq(&f->idev->files_lock);
		f->pending |= req.pending;
		spin_unlock_irq(&f->idev->files_lock);
		return -EFAULT;
	}
	return 0;
}

static long ivshmem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ivshmem_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case IVSHMEM_IOC_INFO:
		return ivshmem_ioctl_info(f, uarg);
	case IVSHMEM_IOC_RING:
		return ivshmem_ioctl_ring(f, uarg);
	case IVSHMEM_IOC_SET_EVENTFD:
		return ivshmem_ioctl_set_eventfd(f, uarg);
	case IVSHMEM_IOC_WAIT:
		return ivshmem_ioctl_wait(f, uarg);
	default:
		return -ENOTTY;
	}
}

/*
 * Pages are inserted on fault, not at mmap time, so that removal (alive cleared under the
 * write lock, then the mappings zapped) cannot race with a mapping being set up: a fault
 * after removal sees !alive and gets SIGBUS.
 */
static vm_fault_t ivshmem_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_file *f = vma->vm_private_data;
	struct ivshmem_dev *idev = f->idev;
	vm_fault_t ret;

	down_read(&idev->lock);
	if (!idev->alive || vmf->pgoff >= (idev->mem_size >> PAGE_SHIFT)) {
		up_read(&idev->lock);
		return VM_FAULT_SIGBUS;
	}
	ret = vmf_insert_pfn(vma, vmf->address, (idev->mem_start >> PAGE_SHIFT) + vmf->pgoff);
	up_read(&idev->lock);
	return ret;
}

static const struct vm_operations_struct ivshmem_vm_ops = {
	.fault = ivshmem_vm_fault,
};

static int ivshmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ivshmem_file *f = file->private_data;
	struct ivshmem_dev *idev = f->idev;
	unsigned long pages = vma_pages(vma);
	unsigned long bar_pages = idev->mem_size >> PAGE_SHIFT;

	if (ivshmem_gone(f))
		return -ENODEV;
	/* Device memory cannot be copy-on-write. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= bar_pages || pages > bar_pages - vma->vm_pgoff)
		return -EINVAL;

	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_page_prot = idev->mem_wc ? pgprot_writecombine(vma->vm_page_prot)
					 : pgprot_noncached(vma->vm_page_prot);
	vma->vm_private_data = f;
	vma->vm_ops = &ivshmem_vm_ops;
	return 0;
}

/*
 * Removal, step 1, with ->lock held for writing and alive already clear: zaps every mapping
 * of every open file. Faults wait for ->lock and then see !alive, so no page comes back.
 */
void ivshmem_files_zap(struct ivshmem_dev *idev)
{
	struct ivshmem_file *f;

	mutex_lock(&idev->files_mutex);
	list_for_each_entry(f, &idev->files, node)
		unmap_mapping_range(f->file->f_mapping, 0, 0, 1);
	mutex_unlock(&idev->files_mutex);
}

/* Removal, step 2, after ->removed was set: wakes every waiter, which then sees -ENODEV. */
void ivshmem_files_wake(struct ivshmem_dev *idev)
{
	struct ivshmem_file *f;

	mutex_lock(&idev->files_mutex);
	list_for_each_entry(f, &idev->files, node)
		wake_up_interruptible(&f->wait);
	mutex_unlock(&idev->files_mutex);
}

const struct file_operations ivshmem_fops = {
	.owner = THIS_MODULE,
	.open = ivshmem_open,
	.release = ivshmem_release,
	.read = ivshmem_read,
	.poll = ivshmem_poll,
	.unlocked_ioctl = ivshmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = ivshmem_mmap,
	.llseek = no_llseek,
};
