// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: the I/O path. blk-mq hands each request to vdi_queue_rq(), which
 * only queues it to the device's workqueue: the backing file's I/O may
 * submit bios of its own and must not run in the submitter's context.
 * The worker looks the request's blocks up in the map. When they are all
 * allocated and follow each other in the file (a request may span
 * several), it reads or writes that one file range in place, with direct
 * I/O in effect and the request aligned for it as an asynchronous kiocb:
 * the worker only submits it and moves on, so that many requests are in
 * flight at once, as loop's direct I/O mode does. Everything else goes
 * block by block and waits: zeros or a parent's data for blocks the image
 * lacks, a first write that allocates, or I/O in place.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "vdi.h"
#include "vdi_compat.h"

/*
 * The file position of @len bytes at @off in data block @entry. The range
 * must lie inside the file: an allocated block past the end of the file
 * (truncated behind our back) is an I/O error, never zeros or another
 * block's bytes.
 */
static int vdi_file_pos(struct vdi_image *img, u32 entry, u32 off,
			size_t len, loff_t *pos)
{
	*pos = vdi_block_offset(&img->h, entry) + off;
	if (*pos + len > i_size_read(img->file->f_mapping->host)) {
		pr_err_ratelimited("data block %u of %pD is past the end of the file\n",
				   entry, img->file);
		return -EIO;
	}
	return 0;
}

/*
 * A kiocb for @iter at @pos: direct I/O when it is in effect and the file
 * position, the lengths and the memory are aligned as the file needs, else
 * buffered. The file system keeps the two coherent (direct I/O writes back
 * and drops cached pages of its range).
 */
static void vdi_kiocb_init(struct kiocb *iocb, struct vdi_image *img,
			   loff_t pos, struct iov_iter *iter)
{
	init_sync_kiocb(iocb, img->file);
	iocb->ki_pos = pos;
	if (img->dio &&
	    !(((unsigned long)pos | iov_iter_alignment(iter)) &
	      (img->dio_align - 1)))
		iocb->ki_flags |= IOCB_DIRECT;
	if (iov_iter_rw(iter) == WRITE)
		iocb->ki_flags |= IOCB_WRITE;
}

/* Starts @iocb; a write holds freeze protection until vdi_kiocb_end(). */
static ssize_t vdi_kiocb_start(struct kiocb *iocb, struct iov_iter *iter)
{
	struct file *file = iocb->ki_filp;

	if (!(iocb->ki_flags & IOCB_WRITE))
		return file->f_op->read_iter(iocb, iter);
	kiocb_start_write(iocb);
	return file->f_op->write_iter(iocb, iter);
}

static void vdi_kiocb_end(struct kiocb *iocb)
{
	if (iocb->ki_flags & IOCB_WRITE)
		kiocb_end_write(iocb);
}

/*
 * Reads or writes @iter at @pos and waits. A write that fills the file
 * system comes back short first; writing the rest gets the reason
 * (-ENOSPC), which the caller must see rather than a bare -EIO.
 */
static int vdi_file_sync(struct vdi_image *img, loff_t pos,
			 struct iov_iter *iter)
{
	size_t len = iov_iter_count(iter);
	struct kiocb iocb;
	ssize_t ret;

	do {
		vdi_kiocb_init(&iocb, img, pos, iter);
		ret = vdi_kiocb_start(&iocb, iter);
		vdi_kiocb_end(&iocb);
		if (ret < 0)
			return ret;
		if (iov_iter_rw(iter) == READ)
			return ret == len ? 0 : -EIO;
		if (!ret)
			return -EIO;
		pos += ret;
	} while (iov_iter_count(iter));
	return 0;
}

/**
 * vdi_file_rw() - read or write inside an allocated data block, waiting
 * @img: the image
 * @entry: the allocated map entry (data block index)
 * @off: byte offset in the block
 * @iter: the data; its direction says read or write
 *
 * Return: 0 or a negative errno (a short read is -EIO).
 */
int vdi_file_rw(struct vdi_image *img, u32 entry, u32 off,
		struct iov_iter *iter)
{
	loff_t pos;
	int err;

	err = vdi_file_pos(img, entry, off, iov_iter_count(iter), &pos);
	if (err)
		return err;
	return vdi_file_sync(img, pos, iter);
}

/**
 * vdi_dio_works() - does direct I/O on @file work at alignment @align?
 * @file: the backing file
 * @align: the alignment it needs
 *
 * FMODE_CAN_ODIRECT can promise more than the file delivers (overlayfs
 * sets it whatever the file below supports): one direct read of the first
 * @align bytes tells.
 *
 * Return: true when the read did not fail.
 */
bool vdi_dio_works(struct file *file, u32 align)
{
	struct iov_iter iter;
	struct kiocb iocb;
	struct bio_vec bv;
	struct page *page;
	ssize_t ret;

	if (align > PAGE_SIZE)
		return false;
	page = alloc_page(GFP_KERNEL);
	if (!page)
		return false;
	bvec_set_page(&bv, page, align, 0);
	iov_iter_bvec(&iter, ITER_DEST, &bv, 1, align);
	init_sync_kiocb(&iocb, file);
	iocb.ki_flags |= IOCB_DIRECT;
	ret = file->f_op->read_iter(&iocb, &iter);
	__free_page(page);
	return ret >= 0;
}

/* Hands @cmd to the worker; from any context. */
static void vdi_queue_cmd(struct vdi_device *vdev, struct vdi_cmd *cmd)
{
	unsigned long flags;

	spin_lock_irqsave(&vdev->queue_lock, flags);
	list_add_tail(&cmd->node, &vdev->queue);
	spin_unlock_irqrestore(&vdev->queue_lock, flags);
	queue_work(vdev->wq, &vdev->work);
}

/*
 * The last of the submitter and the kiocb completes the request, or gives
 * it back to the worker to be written again.
 */
static void vdi_aio_put(struct vdi_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	if (!atomic_dec_and_test(&cmd->ref))
		return;
	if (cmd->again)
		vdi_queue_cmd(rq->q->queuedata, cmd);
	else
		blk_mq_complete_request(rq);
}

static void vdi_aio_complete(struct kiocb *iocb, long ret)
{
	struct vdi_cmd *cmd = container_of(iocb, struct vdi_cmd, iocb);
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	vdi_kiocb_end(iocb);
	/*
	 * Short: the file was truncated meanwhile (a read), or a write
	 * stopped where the file system filled, whose reason only writing
	 * the rest gives: the worker writes it again, waiting.
	 */
	if (ret >= 0 && ret != blk_rq_bytes(rq)) {
		cmd->again = iocb->ki_flags & IOCB_WRITE;
		ret = -EIO;
		/*
		 * Queued behind an allocation that waits for its epoch to
		 * drain, it must not hold that epoch: it enters anew.
		 */
		if (cmd->again)
			vdi_io_exit(cmd->img, cmd->io_epoch);
	} else if (ret > 0) {
		ret = 0;
	}
	cmd->err = ret;
	vdi_aio_put(cmd);
}

/*
 * Submits the whole request at @pos as one asynchronous direct I/O. The
 * file system either queues it and calls vdi_aio_complete() later (maybe
 * before it returns), or returns the result now.
 */
static void vdi_file_aio(struct request *rq, struct vdi_cmd *cmd,
			 struct iov_iter *iter)
{
	ssize_t ret;

	cmd->iocb.ki_complete = vdi_aio_complete;
	cmd->iocb.ki_ioprio = req_get_ioprio(rq);
	atomic_set(&cmd->ref, 2);
	ret = vdi_kiocb_start(&cmd->iocb, iter);
	vdi_aio_put(cmd);
	if (ret != -EIOCBQUEUED)
		vdi_aio_complete(&cmd->iocb, ret);
}

/*
 * An iov_iter over the request's data. A request of one bio points into
 * the bio's own vector; several bios are gathered into the PDU, or into an
 * array allocated (GFP_NOIO) when they have more segments than that holds.
 */
static int vdi_rq_iter(struct request *rq, struct vdi_cmd *cmd,
		       struct iov_iter *iter)
{
	unsigned int dir = req_op(rq) == REQ_OP_WRITE ? ITER_SOURCE : ITER_DEST;
	struct bio_vec tmp, *gather;
	const struct bio_vec *bvec;
	struct req_iterator rq_iter;
	struct bio *bio = rq->bio;
	unsigned int offset = 0;
	int nr_bvec = 0, i = 0;

	rq_for_each_bvec(tmp, rq, rq_iter)
		nr_bvec++;

	if (rq->bio != rq->biotail) {
		gather = cmd->inline_bvec;
		if (nr_bvec > VDI_INLINE_BVECS) {
			gather = kmalloc_array(nr_bvec, sizeof(*gather),
					       GFP_NOIO);
			if (!gather)
				return -ENOMEM;
			cmd->bvec = gather;
		}
		rq_for_each_bvec(tmp, rq, rq_iter)
			gather[i++] = tmp;
		bvec = gather;
	} else {
		/* A split bio may start inside its first vector. */
		bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
		offset = mp_bvec_iter_offset(bio->bi_io_vec, bio->bi_iter) -
			 bvec->bv_offset;
	}
	iov_iter_bvec(iter, dir, bvec, nr_bvec, blk_rq_bytes(rq));
	iter->iov_offset = offset;
	return 0;
}

/*
 * Reads or writes the part of a request in virtual block @blk, waiting:
 * from a parent or zeros, by a first write, or in place.
 */
static int vdi_rw_block(struct vdi_image *img, u32 blk, u32 off,
			struct iov_iter *iter, unsigned int *io_epoch)
{
	u32 entry = vdi_map_get(img, blk);
	int err;

	if (!vdi_entry_allocated(entry)) {
		if (iov_iter_rw(iter) == READ)
			return vdi_chain_read(img, blk, entry, off, iter);
		err = vdi_alloc_write(img, blk, off, iter, &entry, io_epoch);
		if (err <= 0)
			return err;
	}
	return vdi_file_rw(img, entry, off, iter);
}

/*
 * The data block of @blk when it and the next ones up to @last are all
 * allocated and lie one after the other in the file, as blocks written in
 * order do: then the range is one file range. Else VDI_BLOCK_FREE.
 */
static u32 vdi_map_run(struct vdi_image *img, u32 blk, u32 last)
{
	u32 entry = vdi_map_get(img, blk);
	u32 i;

	if (!vdi_entry_allocated(entry))
		return VDI_BLOCK_FREE;
	for (i = 1; i <= last - blk; i++)
		if (vdi_map_get(img, blk + i) != entry + i)
			return VDI_BLOCK_FREE;
	return entry;
}

/*
 * Reads or writes @rq. Return: 0 or a negative errno, or -EIOCBQUEUED
 * when vdi_file_aio() took the request.
 */
static int vdi_rw(struct vdi_image *img, struct request *rq,
		  struct vdi_cmd *cmd)
{
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u32 len = blk_rq_bytes(rq);
	u64 blk = pos >> img->block_shift;
	u64 last = (pos + len - 1) >> img->block_shift;
	u32 off = pos & (img->h.block_size - 1);
	struct req_iterator rq_iter;
	struct iov_iter iter, piece;
	struct bio_vec bv;
	loff_t fpos;
	u32 entry, n;
	int err;

	/* The block layer keeps requests inside the disk; never trust. */
	if (!len || last >= img->h.blocks_in_image)
		return -EIO;
	err = vdi_rq_iter(rq, cmd, &iter);
	if (err)
		return err;
	/* Allocated and contiguous in the file: one kiocb, no lock. */
	entry = vdi_map_run(img, blk, last);
	if (vdi_entry_allocated(entry)) {
		err = vdi_file_pos(img, entry, off, len, &fpos);
		if (err)
			return err;
		vdi_kiocb_init(&cmd->iocb, img, fpos, &iter);
		if ((cmd->iocb.ki_flags & IOCB_DIRECT) && !cmd->again) {
			vdi_file_aio(rq, cmd, &iter);
			return -EIOCBQUEUED;
		}
		err = vdi_file_sync(img, fpos, &iter);
	} else {
		/* Else block by block. */
		for (; !err && iov_iter_count(&iter); blk++, off = 0) {
			n = min_t(size_t, iov_iter_count(&iter),
				  img->h.block_size - off);
			piece = iter;
			iov_iter_truncate(&piece, n);
			err = vdi_rw_block(img, blk, off, &piece,
					   &cmd->io_epoch);
			iov_iter_advance(&iter, n);
		}
	}
	if (err || iov_iter_rw(&iter) == WRITE)
		return err;
	/* Direct I/O needs no flush: the pages were never mapped by us. */
	rq_for_each_segment(bv, rq, rq_iter)
		flush_dcache_page(bv.bv_page);
	return 0;
}

static int vdi_handle_rq(struct vdi_device *vdev, struct request *rq,
			 struct vdi_cmd *cmd)
{
	/* Stable while the request is in flight: unbind freezes the queue. */
	struct vdi_image *img = smp_load_acquire(&vdev->img);
	int err;

	if (!img)
		return -EIO;
	/* From vdi_run_quiet(): no other request starts until it returns. */
	if (req_op(rq) == REQ_OP_DRV_OUT) {
		vdi_io_drain(img);
		cmd->quiet_err = cmd->quiet_fn(img, cmd->quiet_arg);
		return cmd->quiet_err;
	}
	/* Write, discard and write-zeroes; a flush changes nothing. */
	if (op_is_write(req_op(rq))) {
		/* The block layer only warns about writes to a read-only disk. */
		if (img->read_only)
			return -EIO;
		err = vdi_image_modify(img);
		if (err)
			return err;
	}
	if (req_op(rq) == REQ_OP_FLUSH)
		return vdi_image_flush(img);
	/* Until vdi_end_rq(), no data block this request saw is reused. */
	cmd->io_epoch = vdi_io_enter(img);
	cmd->img = img;
	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		return vdi_rw(img, rq, cmd);
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		return vdi_zero_range(img, (u64)blk_rq_pos(rq) << SECTOR_SHIFT,
				      blk_rq_bytes(rq),
				      !(rq->cmd_flags & REQ_NOUNMAP),
				      &cmd->io_epoch);
	default:
		return -EOPNOTSUPP;
	}
}

static void vdi_end_rq(struct request *rq, struct vdi_cmd *cmd, int err)
{
	if (cmd->img)
		vdi_io_exit(cmd->img, cmd->io_epoch);
	kfree(cmd->bvec);
	if (err && err != -EOPNOTSUPP && err != -ENOSPC)
		err = -EIO;
	blk_mq_end_request(rq, errno_to_blk_status(err));
}

/*
 * The worker: takes the queued requests one after another, as loop's
 * does, so that a burst costs one wake-up. NOIO, so that reclaim never
 * recurses into writing to this device through the backing file, and
 * throttled only against the backing file's own device
 * (PF_LOCAL_THROTTLE), as loop's worker is.
 */
void vdi_work(struct work_struct *work)
{
	struct vdi_device *vdev = container_of(work, struct vdi_device, work);
	unsigned int old_flags = current->flags & PF_LOCAL_THROTTLE;
	struct vdi_cmd *cmd;
	struct request *rq;
	unsigned int noio;
	int err;

	current->flags |= PF_LOCAL_THROTTLE;
	noio = memalloc_noio_save();
	for (;;) {
		spin_lock_irq(&vdev->queue_lock);
		cmd = list_first_entry_or_null(&vdev->queue, struct vdi_cmd,
					       node);
		if (cmd)
			list_del(&cmd->node);
		spin_unlock_irq(&vdev->queue_lock);
		if (!cmd)
			break;
		rq = blk_mq_rq_from_pdu(cmd);
		if (cmd->again) {
			/* Back from vdi_aio_complete(): epoch and iter anew. */
			kfree(cmd->bvec);
			cmd->bvec = NULL;
			cmd->io_epoch = vdi_io_enter(cmd->img);
			err = vdi_rw(cmd->img, rq, cmd);
		} else {
			err = vdi_handle_rq(vdev, rq, cmd);
		}
		/* Queued: vdi_aio_complete() has it, and may have ended it. */
		if (err != -EIOCBQUEUED)
			vdi_end_rq(rq, cmd, err);
		cond_resched();
	}
	memalloc_noio_restore(noio);
	current->flags = (current->flags & ~PF_LOCAL_THROTTLE) | old_flags;
}

/**
 * vdi_run_quiet() - run @fn on the device's worker, no request in flight
 * @vdev: the device, with an image bound
 * @fn: what to run, with the image and @arg
 * @arg: its argument
 *
 * For what must not overlap with I/O (moving data blocks, replacing the
 * map): a driver request that the worker takes in turn; it waits for the
 * asynchronous I/O still in flight and starts no other request until @fn
 * returns. Unlike a queue freeze, nothing here holds the queue while @fn
 * takes the image's locks and writes to its file.
 *
 * Return: what @fn returned; -ENXIO when no image was bound; or the error
 * of allocating the request.
 */
int vdi_run_quiet(struct vdi_device *vdev, vdi_quiet_fn fn, void *arg)
{
	struct vdi_cmd *cmd;
	struct request *rq;
	int err;

	rq = blk_mq_alloc_request(vdev->disk->queue, REQ_OP_DRV_OUT, 0);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	cmd = blk_mq_rq_to_pdu(rq);
	cmd->quiet_fn = fn;
	cmd->quiet_arg = arg;
	cmd->quiet_err = -ENXIO;
	blk_execute_rq(rq, false);
	err = cmd->quiet_err;
	blk_mq_free_request(rq);
	return err;
}

/* A request that went to vdi_file_aio(), in blk-mq's completion context. */
static void vdi_complete_rq(struct request *rq)
{
	struct vdi_cmd *cmd = blk_mq_rq_to_pdu(rq);

	vdi_end_rq(rq, cmd, cmd->err);
}

static blk_status_t vdi_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct vdi_device *vdev = rq->q->queuedata;
	struct vdi_cmd *cmd = blk_mq_rq_to_pdu(rq);

	/* What vdi_end_rq() undoes: nothing yet. */
	cmd->img = NULL;
	cmd->bvec = NULL;
	cmd->again = false;
	blk_mq_start_request(rq);
	vdi_queue_cmd(vdev, cmd);
	return BLK_STS_OK;
}

const struct blk_mq_ops vdi_mq_ops = {
	.queue_rq	= vdi_queue_rq,
	.complete	= vdi_complete_rq,
};
