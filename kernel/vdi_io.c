// SPDX-License-Identifier: GPL-2.0
/*
 * vdi: the I/O path. blk-mq hands each request to vdi_queue_rq(), which
 * only queues it to the device's workqueue: the backing file's I/O may
 * submit bios of its own and must not run in the submitter's context. The
 * worker splits the request at VDI block boundaries (the queue limits
 * already do, this is defence), looks each block up in the map and reads
 * zeros, reads or writes the file, or allocates the block.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "vdi.h"
#include "vdi_compat.h"

/**
 * vdi_file_rw() - read or write inside an allocated data block
 * @img: the image
 * @entry: the allocated map entry (data block index)
 * @off: byte offset in the block
 * @iter: the data; its direction says read or write
 *
 * The range must lie inside the file: an allocated block past the end of
 * the file (truncated behind our back) is an I/O error, never zeros or
 * another block's bytes.
 *
 * Return: 0 or a negative errno (a short read is -EIO).
 */
int vdi_file_rw(struct vdi_image *img, u32 entry, u32 off,
		struct iov_iter *iter)
{
	loff_t pos = vdi_block_offset(&img->h, entry) + off;
	size_t len = iov_iter_count(iter);
	ssize_t ret;

	if (pos + len > i_size_read(img->file->f_mapping->host)) {
		pr_err_ratelimited("data block %u of %pD is past the end of the file\n",
				   entry, img->file);
		return -EIO;
	}
	if (iov_iter_rw(iter) == READ) {
		ret = vfs_iter_read(img->file, iter, &pos, 0);
		if (ret < 0)
			return ret;
		return ret == len ? 0 : -EIO;
	}
	/*
	 * A write that fills the file system comes back short first; writing
	 * the rest gets the reason (-ENOSPC), which the caller must see
	 * rather than a bare -EIO.
	 */
	while (iov_iter_count(iter)) {
		ret = vdi_iter_write(img->file, iter, &pos);
		if (ret < 0)
			return ret;
		if (!ret)
			return -EIO;
	}
	return 0;
}

static int vdi_read_block(struct vdi_image *img, u32 blk, u32 off,
			  struct iov_iter *iter)
{
	u32 entry = vdi_map_get(img, blk);
	size_t len = iov_iter_count(iter);

	/* Free and zero blocks read as zeros without touching the file. */
	if (!vdi_entry_allocated(entry))
		return iov_iter_zero(len, iter) == len ? 0 : -EIO;
	return vdi_file_rw(img, entry, off, iter);
}

static int vdi_write_block(struct vdi_image *img, u32 blk, u32 off,
			   struct iov_iter *iter)
{
	u32 entry = vdi_map_get(img, blk);
	int ret;

	/* Allocated: in place, no lock - the fast path. */
	if (!vdi_entry_allocated(entry)) {
		ret = vdi_alloc_write(img, blk, off, iter, &entry);
		if (ret <= 0)
			return ret;
	}
	return vdi_file_rw(img, entry, off, iter);
}

/*
 * An iov_iter over the request's data. A request of one bio points into
 * the bio's own vector; several bios are gathered into an array (GFP_NOIO,
 * freed by the caller through cmd->bvec), as loop does.
 */
static int vdi_rq_iter(struct request *rq, struct vdi_cmd *cmd,
		       struct iov_iter *iter)
{
	unsigned int dir = req_op(rq) == REQ_OP_WRITE ? ITER_SOURCE : ITER_DEST;
	struct req_iterator rq_iter;
	struct bio_vec tmp, *bvec;
	struct bio *bio = rq->bio;
	unsigned int offset = 0;
	int nr_bvec = 0, i = 0;

	rq_for_each_bvec(tmp, rq, rq_iter)
		nr_bvec++;

	if (rq->bio != rq->biotail) {
		bvec = kmalloc_array(nr_bvec, sizeof(*bvec), GFP_NOIO);
		if (!bvec)
			return -ENOMEM;
		cmd->bvec = bvec;
		rq_for_each_bvec(tmp, rq, rq_iter)
			bvec[i++] = tmp;
	} else {
		offset = bio->bi_iter.bi_bvec_done;
		bvec = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);
	}
	iov_iter_bvec(iter, dir, bvec, nr_bvec, blk_rq_bytes(rq));
	iter->iov_offset = offset;
	return 0;
}

/* Reads or writes @rq one VDI block at a time. */
static int vdi_rw(struct vdi_image *img, struct request *rq,
		  struct vdi_cmd *cmd)
{
	const u32 bmask = img->h.block_size - 1;
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	struct iov_iter iter, chunk;
	struct req_iterator rq_iter;
	struct bio_vec bv;
	u32 len, off;
	u64 blk;
	int err;

	err = vdi_rq_iter(rq, cmd, &iter);
	while (!err && iov_iter_count(&iter)) {
		blk = pos >> img->block_shift;
		off = pos & bmask;
		if (blk >= img->h.blocks_in_image) {
			err = -EIO;
			break;
		}
		len = min_t(size_t, iov_iter_count(&iter),
			    img->h.block_size - off);
		chunk = iter;
		iov_iter_truncate(&chunk, len);
		if (iov_iter_rw(&iter) == WRITE)
			err = vdi_write_block(img, blk, off, &chunk);
		else
			err = vdi_read_block(img, blk, off, &chunk);
		iov_iter_advance(&iter, len);
		pos += len;
	}
	kfree(cmd->bvec);
	cmd->bvec = NULL;

	if (req_op(rq) == REQ_OP_READ)
		rq_for_each_segment(bv, rq, rq_iter)
			flush_dcache_page(bv.bv_page);
	return err;
}

static int vdi_handle_rq(struct vdi_device *vdev, struct request *rq,
			 struct vdi_cmd *cmd)
{
	/* Stable while the request is in flight: unbind freezes the queue. */
	struct vdi_image *img = smp_load_acquire(&vdev->img);

	if (!img)
		return -EIO;
	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		return vdi_image_flush(img);
	case REQ_OP_READ:
		return vdi_rw(img, rq, cmd);
	case REQ_OP_WRITE:
		/* The block layer only warns about writes to a read-only disk. */
		if (img->read_only)
			return -EIO;
		return vdi_rw(img, rq, cmd);
	default:
		return -EOPNOTSUPP;	/* discard and write-zeroes: not yet */
	}
}

/*
 * The worker: NOIO, so that reclaim never recurses into writing to this
 * device through the backing file, and throttled only against the backing
 * file's own device (PF_LOCAL_THROTTLE), as loop's worker is.
 */
static void vdi_work(struct work_struct *work)
{
	struct vdi_cmd *cmd = container_of(work, struct vdi_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned int old_flags = current->flags & PF_LOCAL_THROTTLE;
	unsigned int noio;
	int err;

	current->flags |= PF_LOCAL_THROTTLE;
	noio = memalloc_noio_save();
	err = vdi_handle_rq(rq->q->queuedata, rq, cmd);
	memalloc_noio_restore(noio);
	current->flags = (current->flags & ~PF_LOCAL_THROTTLE) | old_flags;

	if (err && err != -EOPNOTSUPP && err != -ENOSPC)
		err = -EIO;
	blk_mq_end_request(rq, errno_to_blk_status(err));
}

static blk_status_t vdi_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct vdi_device *vdev = rq->q->queuedata;
	struct vdi_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_start_request(rq);
	queue_work(vdev->wq, &cmd->work);
	return BLK_STS_OK;
}

static int vdi_init_request(struct blk_mq_tag_set *set, struct request *rq,
			    unsigned int hctx_idx, unsigned int numa_node)
{
	struct vdi_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, vdi_work);
	cmd->bvec = NULL;
	return 0;
}

const struct blk_mq_ops vdi_mq_ops = {
	.queue_rq	= vdi_queue_rq,
	.init_request	= vdi_init_request,
};
