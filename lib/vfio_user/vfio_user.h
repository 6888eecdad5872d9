/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-user: the protocol as a plain C library (no EAL).
 *
 * vfio-user carries the VFIO device API (region info, region access, DMA
 * maps, interrupts) over an AF_UNIX SOCK_STREAM socket, with file
 * descriptors passed as SCM_RIGHTS ancillary data. This header holds:
 *
 * 1. protocol constants and wire structs (host endianness, as on the wire);
 *    where <linux/vfio.h> has a struct with the wire layout we use it
 *    (vfio_region_info, vfio_info_cap_header, vfio_region_info_cap_sparse_mmap,
 *    vfio_irq_info, vfio_irq_set); otherwise a vfio_user_* struct is defined;
 * 2. our extension "sparse_mmap_fds" (region capability 0x8001): each sparse
 *    mmap area of a region names its own fd and file offset;
 * 3. framing: send/receive one whole message with its fds;
 * 4. version negotiation helpers (JSON capabilities, parsed with jansson);
 * 5. the server role (a device): vfio_user_server_*;
 * 6. the client role (a driver): vfio_user_client_*.
 *
 * Error convention: functions return 0 (or a non-negative count) on success
 * and a negative errno on failure; every failure caused by the peer is logged
 * with one line through the log callback (vfio_user_set_log()).
 *
 * Trust: the peer is never trusted. Every size, argsz, count, offset and fd
 * count read from the socket is checked before use; fds received but not
 * handed to the caller are closed.
 *
 * Threads: the library keeps no global state except the log callback. A
 * server or client object must be used by one thread at a time (the caller
 * serialises); different objects may be used concurrently.
 */

#ifndef _VFIO_USER_H_
#define _VFIO_USER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
 * Protocol constants
 * ------------------------------------------------------------------- */

/** Protocol version we speak. A peer with another major is refused. */
#define VFIO_USER_MAJOR 0
/** Highest minor we implement; a reply carries min(proposed, ours). */
#define VFIO_USER_MINOR 2

/** Commands (the "command" field of the header). */
enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	/* 14 was DIRTY_PAGES, removed from the protocol. */
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
	VFIO_USER_MAX_COMMAND = 19, /**< one past the last known command */
};

/* Header flags. */
#define VFIO_USER_F_TYPE_MASK    0xfu  /**< bits 0-3: message type */
#define VFIO_USER_F_TYPE_COMMAND 0x0u  /**< a request */
#define VFIO_USER_F_TYPE_REPLY   0x1u  /**< a reply */
#define VFIO_USER_F_NO_REPLY     0x10u /**< request: the sender wants no reply */
#define VFIO_USER_F_ERROR        0x20u /**< reply: failed, errno in "error" */

/** DMA_MAP flags (same bits as VFIO_DMA_MAP_FLAG_READ/WRITE). */
#define VFIO_USER_F_DMA_REGION_READ  (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)
/** DMA_UNMAP flags (same bits as the kernel's VFIO_DMA_UNMAP_FLAG_*). */
#define VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP (1u << 0) /**< unsupported */
#define VFIO_USER_F_DMA_UNMAP_ALL              (1u << 1) /**< addr = size = 0 */

/* ---------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------- */

/** Size of the message header. */
#define VFIO_USER_HDR_SIZE 16u
/** Default max_data_xfer_size when the peer does not advertise one. */
#define VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE (1u << 20)
/** Largest max_data_xfer_size we accept from a peer (QEMU's bound). */
#define VFIO_USER_MAX_MAX_DATA_XFER_SIZE (64u << 20)
/** Default max_msg_fds when the peer does not advertise one (spec). */
#define VFIO_USER_DEFAULT_MAX_MSG_FDS 1u
/**
 * Most fds we accept in one message and the largest max_msg_fds we
 * advertise or honour (a peer advertising more is clamped to this).
 * Also bounds the fds of a region info reply.
 */
#define VFIO_USER_FDS_MAX 32u
/** Default max_dma_maps (spec); also the largest we accept. */
#define VFIO_USER_DEFAULT_MAX_DMA_MAPS 65535u
/** Default pgsizes (spec). */
#define VFIO_USER_DEFAULT_PGSIZES 4096u
/** Largest VERSION JSON we send or accept, terminating NUL included. */
#define VFIO_USER_JSON_MAX 4096u
/** Most sparse mmap areas in one region (both capabilities). */
#define VFIO_USER_SPARSE_AREAS_MAX 32u
/** Default per-message timeout (ms) for both roles. */
#define VFIO_USER_DEFAULT_TIMEOUT_MS 5000
/** Default number of fds the server advertises (QEMU rejects > 16). */
#define VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS 16u

/* ---------------------------------------------------------------------
 * Wire structs (payloads follow the 16-byte header)
 * ------------------------------------------------------------------- */

/** Message header, both directions. */
struct vfio_user_header {
	uint16_t msg_id;   /**< chosen by the requester, echoed in the reply */
	uint16_t command;  /**< enum vfio_user_command, echoed in the reply */
	uint32_t msg_size; /**< whole message, header included */
	uint32_t flags;    /**< VFIO_USER_F_* */
	uint32_t error;    /**< reply: errno if VFIO_USER_F_ERROR; else 0 */
};

/** VERSION payload: then a NUL-terminated JSON object (may be absent). */
struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
	char data[];
};

/** DMA_MAP request (32 bytes, argsz = 32); 0 or 1 fd attached. */
struct vfio_user_dma_map {
	uint32_t argsz;
	uint32_t flags;   /**< VFIO_USER_F_DMA_REGION_READ/WRITE */
	uint64_t offset;  /**< offset of the mapping in the attached fd */
	uint64_t addr;    /**< IOVA */
	uint64_t size;
};

/** DMA_UNMAP request and reply (24 bytes). */
struct vfio_user_dma_unmap {
	uint32_t argsz;
	uint32_t flags;   /**< VFIO_USER_F_DMA_UNMAP_* */
	uint64_t addr;
	uint64_t size;
};

/**
 * DEVICE_GET_INFO request and reply (16 bytes). Not <linux/vfio.h>'s
 * vfio_device_info: that one has grown a cap_offset field the protocol lacks.
 */
struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags;       /**< VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET */
	uint32_t num_regions;
	uint32_t num_irqs;
};

/*
 * DEVICE_GET_REGION_INFO request and reply: struct vfio_region_info (32
 * bytes) from <linux/vfio.h>, then the capability chain (struct
 * vfio_info_cap_header, "next" relative to the start of vfio_region_info).
 * Standard sparse mmap: VFIO_REGION_INFO_CAP_SPARSE_MMAP (1), version 1,
 * struct vfio_region_info_cap_sparse_mmap; all areas map the one fd of the
 * reply at region.offset + area.offset.
 */

/** Our extension: region capability id of the per-area-fd sparse mmap. */
#define VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS 0x8001
/** Version of that capability. */
#define VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS_VERSION 1
/** VERSION JSON capability that enables it: "sparse_mmap_fds": true. */
#define VFIO_USER_CAP_SPARSE_MMAP_FDS "sparse_mmap_fds"

/** One area of the sparse_mmap_fds capability (32 bytes). */
struct vfio_user_sparse_mmap_fd_area {
	uint64_t offset;    /**< offset of the area inside the region */
	uint64_t size;      /**< size of the area */
	uint64_t fd_offset; /**< mmap offset inside the area's fd */
	uint32_t fd_index;  /**< index into the fds attached to the reply */
	uint32_t reserved;  /**< 0 */
};

/**
 * The sparse_mmap_fds capability (id 0x8001). Only sent to a peer that
 * negotiated "sparse_mmap_fds". The reply carries the distinct fds of the
 * areas; area i is mapped with mmap(fds[areas[i].fd_index],
 * areas[i].fd_offset, areas[i].size) at region offset areas[i].offset.
 * region.offset is 0 and has no meaning for such a region.
 */
struct vfio_user_region_info_cap_sparse_mmap_fds {
	struct vfio_info_cap_header header;
	uint32_t nr_areas;
	uint32_t reserved;
	struct vfio_user_sparse_mmap_fd_area areas[];
};

/*
 * DEVICE_GET_IRQ_INFO: struct vfio_irq_info (16 bytes) both ways.
 * DEVICE_SET_IRQS: struct vfio_irq_set header (20 bytes, argsz = 20, or
 * 20 + count with DATA_BOOL); eventfds travel as SCM_RIGHTS, not in data[].
 */

/** REGION_READ/REGION_WRITE (16 bytes + data). */
struct vfio_user_region_access {
	uint64_t offset;  /**< offset inside the region */
	uint32_t region;  /**< region index */
	uint32_t count;   /**< bytes of data; <= max_data_xfer_size */
	uint8_t data[];   /**< read reply and write request only */
};

/* DEVICE_RESET: no payload either way. DMA_READ/DMA_WRITE (server to
 * client) are not supported: layouts disagree between implementations, and
 * we require fd-backed DMA_MAP. */

/* ---------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------- */

enum vfio_user_log_level {
	VFIO_USER_LOG_ERR = 0,
	VFIO_USER_LOG_WARNING = 1,
	VFIO_USER_LOG_INFO = 2,
	VFIO_USER_LOG_DEBUG = 3,
};

/**
 * Log sink. @msg is one line without a trailing newline.
 *
 * @param level  enum vfio_user_log_level.
 * @param msg    the formatted line; valid only during the call.
 * @param arg    the pointer given to vfio_user_set_log().
 */
typedef void (*vfio_user_log_fn)(int level, const char *msg, void *arg);

/**
 * Set the log sink for the whole library (default: lines of level <=
 * VFIO_USER_LOG_INFO to stderr). Not thread safe: call it before any
 * server or client object is in use.
 *
 * @param fn   the sink; NULL restores the default.
 * @param arg  passed back to @fn.
 * @param max_level  lines above this level are not formatted or emitted.
 */
void vfio_user_set_log(vfio_user_log_fn fn, void *arg, int max_level);

/* ---------------------------------------------------------------------
 * Framing
 * ------------------------------------------------------------------- */

/**
 * One received message. The payload is heap memory owned by the message;
 * fds are owned by the message until the caller takes one (sets the slot
 * to -1). vfio_user_msg_release() frees the payload and closes the fds
 * still owned.
 */
struct vfio_user_msg {
	struct vfio_user_header hdr;
	void *payload;            /**< hdr.msg_size - 16 bytes, or NULL if 0 */
	size_t payload_len;       /**< hdr.msg_size - 16 */
	int fds[VFIO_USER_FDS_MAX];
	unsigned int nr_fds;      /**< fds[0..nr_fds) valid (or -1 if taken) */
};

/**
 * Send one message with optional fds in a single header-carrying sendmsg().
 * Fills hdr->msg_size from @len. Retries on EINTR and partial writes; waits
 * at most @timeout_ms for the socket to become writable each time.
 *
 * @param sock     connected AF_UNIX SOCK_STREAM socket.
 * @param hdr      header; msg_size is overwritten.
 * @param payload  @len bytes (may be NULL when @len is 0).
 * @param len      payload length; header + len must fit in 32 bits.
 * @param fds      @nr_fds fds to attach (borrowed, not closed).
 * @param nr_fds   0 .. VFIO_USER_FDS_MAX.
 * @param timeout_ms  < 0 waits forever.
 * @return 0, -EINVAL (bad arguments), -ETIMEDOUT, -EPIPE/-ECONNRESET or
 *         another -errno from sendmsg().
 */
int vfio_user_send_msg(int sock, struct vfio_user_header *hdr, const void *payload,
		       size_t len, const int *fds, unsigned int nr_fds, int timeout_ms);

/**
 * Receive exactly one message. Reads the header (with any fds), validates
 * msg_size (>= 16 and payload <= @max_payload), then reads the payload.
 * Fails without reading the payload when the size is out of range, so the
 * stream is then unusable: the caller must drop the connection on any
 * error except -EAGAIN.
 *
 * @param sock         connected socket.
 * @param msg          filled on success; zeroed (fds = -1) on failure.
 * @param max_payload  largest payload accepted.
 * @param max_fds      most fds accepted (<= VFIO_USER_FDS_MAX); more, or a
 *                     truncated control message, is an error.
 * @param timeout_ms   time allowed for the whole message; 0 fails with
 *                     -EAGAIN if no byte is ready; < 0 waits forever.
 * @return 0; -ECONNRESET on EOF before the first byte; -EAGAIN (nothing
 *         ready, @timeout_ms 0); -ETIMEDOUT; -EPROTO (EOF mid-message,
 *         size out of range, too many fds, truncated control data);
 *         -ENOMEM; other -errno from recvmsg(). No fd is leaked.
 */
int vfio_user_recv_msg(int sock, struct vfio_user_msg *msg, size_t max_payload,
		       unsigned int max_fds, int timeout_ms);

/**
 * A resumable reader: it keeps a partly received message between calls, so
 * an event loop never waits for the rest of a message from a slow or
 * stalled peer (the device's single thread serves a front-end too).
 */
struct vfio_user_reader {
	struct vfio_user_msg msg; /**< the message being received */
	size_t done;              /**< bytes of it received so far */
	int64_t started_ms;       /**< CLOCK_MONOTONIC ms of its first byte */
};

/** Make @rd empty (no allocation). */
void vfio_user_reader_init(struct vfio_user_reader *rd);

/** Drop a partly received message (payload freed, its fds closed). */
void vfio_user_reader_reset(struct vfio_user_reader *rd);

/**
 * Read what @sock has without waiting, continuing the message in @rd.
 * @return 1 with a whole message moved to @out (the caller releases it);
 *         -EAGAIN when the socket is empty (a partial message stays in
 *         @rd; rd->done > 0 says so); -ECONNRESET at EOF between messages;
 *         -EPROTO (EOF inside a message, size beyond @max_payload, more
 *         than @max_fds fds, bad control data), -ENOMEM or -errno: the
 *         stream is unusable, call vfio_user_reader_reset().
 */
int vfio_user_reader_step(int sock, struct vfio_user_reader *rd, size_t max_payload,
			  unsigned int max_fds, struct vfio_user_msg *out);

/**
 * Free the payload and close the fds still owned by @msg; safe to call on
 * a zeroed message and twice.
 */
void vfio_user_msg_release(struct vfio_user_msg *msg);

/**
 * Take fd number @i out of @msg (the message no longer closes it).
 * @return the fd, or -1 if @i is out of range or already taken.
 */
int vfio_user_msg_take_fd(struct vfio_user_msg *msg, unsigned int i);

/* ---------------------------------------------------------------------
 * Version negotiation (JSON capabilities)
 * ------------------------------------------------------------------- */

/** Capabilities of one side, as carried by the VERSION JSON. */
struct vfio_user_caps {
	uint32_t max_msg_fds;        /**< fds the JSON's sender can receive */
	uint32_t max_data_xfer_size; /**< largest data count it accepts */
	uint32_t max_dma_maps;       /**< most DMA maps it accepts */
	uint64_t pgsizes;            /**< supported DMA page sizes (OR) */
	bool sparse_mmap_fds;        /**< our extension (region cap 0x8001) */
};

/** Fill @caps with the spec defaults (what an absent JSON means). */
void vfio_user_caps_default(struct vfio_user_caps *caps);

/**
 * Parse a VERSION payload strictly: at least 4 bytes; if more, the JSON
 * must be NUL-terminated within the payload, be at most
 * VFIO_USER_JSON_MAX bytes with its NUL, contain no other NUL, be one
 * object {"capabilities": {...}} and each known key must have its type
 * and a value in range (max_msg_fds >= 1, clamped to VFIO_USER_FDS_MAX;
 * 1 <= max_data_xfer_size <= VFIO_USER_MAX_MAX_DATA_XFER_SIZE;
 * 1 <= max_dma_maps <= 65535; pgsizes a non-zero multiple of 4096;
 * "migration" an object; "twin_socket" an object; "write_multiple" and
 * "sparse_mmap_fds" booleans). Unknown keys are ignored. Absent keys keep
 * the defaults.
 *
 * @param payload  message payload (not NUL-terminated in general).
 * @param len      payload length.
 * @param major    out: proposed major.
 * @param minor    out: proposed minor.
 * @param caps     out: parsed capabilities.
 * @return 0, or -EINVAL (logged) on any violation.
 */
int vfio_user_version_parse(const void *payload, size_t len, uint16_t *major,
			    uint16_t *minor, struct vfio_user_caps *caps);

/**
 * Build a VERSION payload: major, minor and the JSON for @caps
 * (max_msg_fds, max_data_xfer_size, max_dma_maps, pgsizes and, if set,
 * "sparse_mmap_fds": true), NUL included.
 *
 * @param buf   output buffer.
 * @param size  its size; 4 + VFIO_USER_JSON_MAX is always enough.
 * @return the payload length, or -ENOSPC / -ENOMEM.
 */
int vfio_user_version_build(void *buf, size_t size, uint16_t major, uint16_t minor,
			    const struct vfio_user_caps *caps);

/* ---------------------------------------------------------------------
 * Regions (shared by both roles)
 * ------------------------------------------------------------------- */

/** One mmappable area of a region. */
struct vfio_user_area {
	uint64_t offset;    /**< inside the region */
	uint64_t size;
	int fd;             /**< see struct vfio_user_region */
	uint64_t fd_offset; /**< mmap offset inside @fd */
};

/**
 * A region as the device describes it (server) or as the client learned it.
 *
 * Server side (filled by ops->get_region_info; the fds are BORROWED: the
 * library sends them and never closes them; they must stay open until
 * the callback returns):
 *  - flags: VFIO_REGION_INFO_FLAG_READ/WRITE (access through REGION_READ/
 *    WRITE) and _MMAP (the region or its areas can be mapped).
 *  - size: region size; REGION_READ/WRITE are bounds-checked against it.
 *  - fd, offset: the one standard fd and its mmap offset (fd -1: none).
 *  - areas: the sparse areas. An area with fd -1 lives in the region fd at
 *    offset + area.offset (fd_offset ignored). An area with its own fd
 *    needs the sparse_mmap_fds extension: to a client that did not
 *    negotiate it, only the areas in the region fd are advertised.
 *    With nr_areas 0 and MMAP, the whole region maps the region fd.
 *
 * Client side (vfio_user_client_get_region_info(); the fds are OWNED by
 * the caller, release with vfio_user_region_close()): every area has
 * fd >= 0 and fd_offset set, so area i maps with
 * mmap(areas[i].fd, areas[i].fd_offset, areas[i].size); several areas may
 * share one fd number. fd is the standard region fd or -1 (extension).
 */
struct vfio_user_region {
	uint32_t index;
	uint32_t flags;     /**< VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	uint64_t size;
	uint64_t offset;    /**< mmap offset of the region in @fd */
	int fd;
	unsigned int nr_areas;
	struct vfio_user_area areas[VFIO_USER_SPARSE_AREAS_MAX];
};

/**
 * Client side: close every distinct fd of @r once and set them to -1.
 * Never use on a server-side description (its fds are borrowed).
 */
void vfio_user_region_close(struct vfio_user_region *r);

/* ---------------------------------------------------------------------
 * Server role
 * ------------------------------------------------------------------- */

/**
 * Device callbacks. @arg is the pointer given to vfio_user_server_create().
 * Each returns 0 or a negative errno, which becomes the error reply; the
 * library has already validated the request as documented per callback.
 * A NULL callback makes its command fail with ENOTSUP (get_device_info,
 * get_region_info and get_irq_info are mandatory). Callbacks run in the
 * thread that calls vfio_user_server_handle() and must not call back into
 * the same server object except vfio_user_server_client_caps().
 */
struct vfio_user_server_ops {
	/**
	 * DEVICE_GET_INFO; also used to bound region and irq indexes.
	 * Fill flags, num_regions, num_irqs (argsz is set by the library).
	 */
	int (*get_device_info)(void *arg, struct vfio_user_device_info *info);

	/**
	 * Describe region @index (< num_regions). @r is zeroed with fd and
	 * area fds -1 and r->index set before the call. Called for
	 * GET_REGION_INFO and before every REGION_READ/WRITE (bounds).
	 * Return -EINVAL for an index the device does not have.
	 */
	int (*get_region_info)(void *arg, uint32_t index, struct vfio_user_region *r);

	/**
	 * DEVICE_GET_IRQ_INFO for info->index (< num_irqs): fill flags and
	 * count. Also used to bound SET_IRQS.
	 */
	int (*get_irq_info)(void *arg, struct vfio_irq_info *info);

	/**
	 * DEVICE_SET_IRQS. Validated: index < num_irqs; exactly one DATA_*
	 * and one ACTION_* flag; start + count <= irq count (no overflow);
	 * count 0 only with start 0 and DATA_NONE (disable all); fds only
	 * with DATA_EVENTFD and then nr_fds == count (0 fds = de-assign);
	 * with DATA_BOOL, @bools holds count bytes (else NULL).
	 * On success the callback owns all @fds (it closes those it does
	 * not keep); on failure the library closes them.
	 */
	int (*set_irqs)(void *arg, const struct vfio_irq_set *set, const uint8_t *bools,
			const int *fds, unsigned int nr_fds);

	/**
	 * REGION_READ. Validated: region exists and has FLAG_READ,
	 * 0 < count <= max_data_xfer_size, offset + count <= size. Fill
	 * @count bytes of @buf.
	 */
	int (*region_read)(void *arg, uint32_t region, uint64_t offset, void *buf,
			   uint32_t count);

	/** REGION_WRITE, validated like region_read (FLAG_WRITE). */
	int (*region_write)(void *arg, uint32_t region, uint64_t offset, const void *buf,
			    uint32_t count);

	/**
	 * DMA_MAP. Validated: argsz >= 32, size > 0, addr + size and
	 * offset + size do not overflow, flags only READ|WRITE, exactly one
	 * fd (fd-less maps are refused with ENOTSUP: no DMA_READ/WRITE).
	 * Overlap rules are the device's (spec: EEXIST). On success the
	 * callback owns @fd; on failure the library closes it.
	 */
	int (*dma_map)(void *arg, const struct vfio_user_dma_map *map, int fd);

	/**
	 * DMA_UNMAP. Validated: argsz >= 24, flags only UNMAP_ALL (dirty
	 * bitmaps are refused), with UNMAP_ALL addr = size = 0, else
	 * size > 0 and no overflow. The device must drop every use of the
	 * mapping before returning (the reply tells the client it is done).
	 */
	int (*dma_unmap)(void *arg, const struct vfio_user_dma_unmap *unmap);

	/** DEVICE_RESET. */
	int (*device_reset)(void *arg);

	/**
	 * The client is gone (EOF, error, protocol violation or
	 * vfio_user_server_disconnect()). Per the spec the device must
	 * unmap all DMA and close all irq eventfds, but keep device state.
	 * Optional. Called once per connection that reached attach.
	 */
	void (*disconnected)(void *arg);
};

/** Server parameters; a zero field means its default. */
struct vfio_user_server_params {
	uint32_t max_msg_fds;        /**< advertised; default 16, <= FDS_MAX */
	uint32_t max_data_xfer_size; /**< advertised; default 1 MiB */
	int timeout_ms;              /**< partial request, reply send; default 5000, > 0 */
};

struct vfio_user_server;

/**
 * Create a server. With @path, bind and listen on a new AF_UNIX socket
 * there (an existing socket file at @path is replaced; the file is removed
 * by vfio_user_server_destroy()). With @path NULL, no listening socket:
 * give connections with vfio_user_server_attach() (socketpair, tests).
 *
 * @param path    socket path or NULL; < sizeof(sun_path).
 * @param ops     callbacks; copied.
 * @param arg     passed to every callback.
 * @param params  NULL for defaults.
 * @return the server, or NULL with errno set (and one log line).
 */
struct vfio_user_server *vfio_user_server_create(const char *path,
		const struct vfio_user_server_ops *ops, void *arg,
		const struct vfio_user_server_params *params);

/**
 * Close the connection (calling ops->disconnected) and the listening
 * socket, unlink the socket path, free @srv. NULL is accepted.
 */
void vfio_user_server_destroy(struct vfio_user_server *srv);

/** @return the listening socket (for the caller's epoll), or -1. */
int vfio_user_server_listen_fd(const struct vfio_user_server *srv);

/** @return the connected client's socket (for epoll), or -1. */
int vfio_user_server_conn_fd(const struct vfio_user_server *srv);

/**
 * Accept one pending connection on the listening socket (call when it is
 * readable). One client at a time: if one is already connected, the new
 * one is accepted and closed at once (logged) and -EBUSY returned.
 *
 * @return the connection fd (also vfio_user_server_conn_fd()), -EAGAIN if
 *         none was pending, -EBUSY, or another -errno.
 */
int vfio_user_server_accept(struct vfio_user_server *srv);

/**
 * Adopt an already connected socket as the client connection; @srv owns
 * it from now on (also on failure: it is closed).
 * @return 0, -EBUSY if a client is connected.
 */
int vfio_user_server_attach(struct vfio_user_server *srv, int fd);

/**
 * Serve one request: read one message from the connection, validate it,
 * call the callback, send the reply (none if NO_REPLY was set; failures of
 * NO_REPLY requests are only logged). Call when the connection fd is
 * readable (it never waits for bytes; sending a reply waits for socket
 * space for at most timeout_ms).
 *
 * Policy for bad input:
 *  - error reply, connection kept: unknown or unsupported command
 *    (ENOSYS/ENOTSUP), a request before VERSION or a second VERSION
 *    (EINVAL), wrong
 *    payload size or argsz, wrong fd count, out-of-range indexes or region
 *    accesses, failed callbacks (their errno). Received fds are closed.
 *  - ignored, connection kept: a message whose type is not "command" (a
 *    reply is never answered, so two peers cannot ping-pong errors).
 *  - error reply, then drop: a VERSION that is malformed (JSON, NUL,
 *    size) or proposes another major (EINVAL): the spec makes a failed
 *    negotiation fatal.
 *  - drop without reply (the stream cannot be trusted): EOF, read error or
 *    timeout, msg_size < 16 or larger than the largest request
 *    (16 + 16 + max_data_xfer_size), more fds than max_msg_fds, truncated
 *    control data; also a failure to send a reply.
 * Dropping closes the connection and calls ops->disconnected.
 *
 * Requests are read without waiting: a partial one is kept and continued
 * on the next call. One still incomplete timeout_ms after its first byte
 * is a timeout (drop) when handle() is next called; a caller that wants
 * the bound enforced without further bytes calls handle() once
 * vfio_user_server_pending_ms() has elapsed.
 *
 * @return 0 when served (even with an error reply); -ENOTCONN when the
 *         connection was dropped (including EOF) or there is none;
 *         -EAGAIN when no whole request was ready (nothing read, or part
 *         of one kept for later).
 */
int vfio_user_server_handle(struct vfio_user_server *srv);

/**
 * @return -1 when no request is partly received, else the milliseconds
 *         (>= 0) until it times out: call vfio_user_server_handle() then.
 */
int vfio_user_server_pending_ms(const struct vfio_user_server *srv);

/** Drop the client connection (calls ops->disconnected). */
void vfio_user_server_disconnect(struct vfio_user_server *srv);

/**
 * The capabilities the connected client advertised (valid after VERSION).
 * @return NULL when no client has negotiated.
 */
const struct vfio_user_caps *vfio_user_server_client_caps(const struct vfio_user_server *srv);

/* ---------------------------------------------------------------------
 * Client role
 * ------------------------------------------------------------------- */

/** Client parameters; a zero field means its default. */
struct vfio_user_client_params {
	uint32_t max_msg_fds;        /**< advertised; default/limit FDS_MAX */
	uint32_t max_data_xfer_size; /**< advertised; default 1 MiB */
	int timeout_ms;              /**< per request; default 5000 */
	bool no_sparse_mmap_fds;     /**< do not ask for the extension */
};

struct vfio_user_client;

/**
 * Connect to @path and negotiate the version.
 * @return the client, or NULL with errno set (one log line).
 */
struct vfio_user_client *vfio_user_client_connect(const char *path,
		const struct vfio_user_client_params *params);

/**
 * Wrap a connected socket (owned from now on, closed on failure too)
 * WITHOUT negotiating: call vfio_user_client_negotiate() next.
 * @return the client or NULL with errno set.
 */
struct vfio_user_client *vfio_user_client_create(int fd,
		const struct vfio_user_client_params *params);

/**
 * Send VERSION and check the reply: same major, minor <= ours, JSON valid,
 * capabilities a subset of ours (sparse_mmap_fds only if we asked).
 * @return 0 or -errno (-EPROTO for a bad reply).
 */
int vfio_user_client_negotiate(struct vfio_user_client *cli);

/** Close the socket and free @cli. NULL is accepted. */
void vfio_user_client_destroy(struct vfio_user_client *cli);

/** @return the socket (e.g. to poll for EOF), or -1. */
int vfio_user_client_fd(const struct vfio_user_client *cli);

/** @return the server's negotiated capabilities, or NULL before. */
const struct vfio_user_caps *vfio_user_client_server_caps(const struct vfio_user_client *cli);

/*
 * Requests. All synchronous: send, then wait at most timeout_ms for the
 * reply with the same msg_id and command. Server-to-client requests that
 * arrive meanwhile (DMA_READ/WRITE) get an ENOTSUP reply. Return 0 or:
 * the server's errno negated (error reply), -ETIMEDOUT, -EPROTO (malformed
 * or mismatched reply: the client is then broken and every later call
 * fails with -EPROTO; destroy it), -ENOTCONN (closed), other -errno.
 */

/** DEVICE_GET_INFO. @info is filled (argsz included). */
int vfio_user_client_get_device_info(struct vfio_user_client *cli,
				     struct vfio_user_device_info *info);

/**
 * DEVICE_GET_REGION_INFO. Asks with the largest argsz we can parse
 * (VFIO_USER_SPARSE_AREAS_MAX areas), so one round trip suffices; a server
 * that needs more gets -E2BIG. Parses the standard sparse cap or our 0x8001 cap; checks
 * every area lies inside the region and every fd_index is valid.
 *
 * @param r  out: see struct vfio_user_region (client side); the fds are
 *           the caller's: vfio_user_region_close() when done.
 */
int vfio_user_client_get_region_info(struct vfio_user_client *cli, uint32_t index,
				     struct vfio_user_region *r);

/** DEVICE_GET_IRQ_INFO for @index; @info filled. */
int vfio_user_client_get_irq_info(struct vfio_user_client *cli, uint32_t index,
				  struct vfio_irq_info *info);

/**
 * DEVICE_SET_IRQS. With @fds (DATA_EVENTFD) the vectors are sent in chunks
 * of the server's max_msg_fds; an fd of -1 de-assigns (sent in fd-less
 * chunks). The fds are borrowed.
 *
 * @param flags  VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_*.
 * @param fds    @count fds with DATA_EVENTFD, else NULL.
 * @param bools  @count bytes with DATA_BOOL, else NULL.
 */
int vfio_user_client_set_irqs(struct vfio_user_client *cli, uint32_t index, uint32_t flags,
			      uint32_t start, uint32_t count, const int *fds,
			      const uint8_t *bools);

/** REGION_READ of @count bytes (chunked by max_data_xfer_size). */
int vfio_user_client_region_read(struct vfio_user_client *cli, uint32_t region,
				 uint64_t offset, void *buf, size_t count);

/** REGION_WRITE of @count bytes (chunked), each chunk acknowledged. */
int vfio_user_client_region_write(struct vfio_user_client *cli, uint32_t region,
				  uint64_t offset, const void *buf, size_t count);

/** One read of vfio_user_client_region_read_batch(). */
struct vfio_user_client_read {
	uint32_t region;
	uint64_t offset;
	void *buf;
	uint32_t count;	/**< 1 to max_data_xfer_size */
};

/** Most reads vfio_user_client_region_read_batch() takes. */
#define VFIO_USER_READ_BATCH_MAX 4u

/**
 * Up to VFIO_USER_READ_BATCH_MAX REGION_READs sent at once, then their
 * replies taken in order: one round trip instead of @n (the server answers
 * requests in order). Each reply is checked as a single read's is.
 *
 * @return 0; -EINVAL (@n, a count); the first error reply's -errno (the
 *         other reads are still done); or a connection error (broken).
 */
int vfio_user_client_region_read_batch(struct vfio_user_client *cli,
				       const struct vfio_user_client_read *reads, unsigned int n);

/** Largest write vfio_user_client_region_write_posted() takes (a doorbell). */
#define VFIO_USER_POSTED_WRITE_MAX 8u

/**
 * REGION_WRITE of @count bytes (1 to VFIO_USER_POSTED_WRITE_MAX) with
 * VFIO_USER_F_NO_REPLY: sent, not waited for. A server handles requests
 * in order, so the next request (and its reply) comes after this write
 * took effect; a write the server refuses is only logged there. For
 * doorbells, where the round trip was the cost. A server that replies
 * anyway breaks the connection (a reply that matches no waiting request).
 *
 * @return 0 once sent; -EINVAL (@count), -EPROTO (connection broken),
 *         -ENOTCONN, or the send error.
 */
int vfio_user_client_region_write_posted(struct vfio_user_client *cli, uint32_t region,
					 uint64_t offset, const void *buf, size_t count);

/**
 * DMA_MAP [@iova, @iova + @size) to @fd at @fd_offset (fd borrowed).
 * @param flags  VFIO_USER_F_DMA_REGION_READ/WRITE.
 */
int vfio_user_client_dma_map(struct vfio_user_client *cli, uint32_t flags, uint64_t iova,
			     uint64_t size, int fd, uint64_t fd_offset);

/** DMA_UNMAP; @flags 0 or VFIO_USER_F_DMA_UNMAP_ALL (iova = size = 0). */
int vfio_user_client_dma_unmap(struct vfio_user_client *cli, uint32_t flags, uint64_t iova,
			       uint64_t size);

/** DEVICE_RESET. */
int vfio_user_client_reset(struct vfio_user_client *cli);

/**
 * Send any request and wait for its reply (tests and extensions).
 *
 * @param cmd      command.
 * @param req      request payload (@req_len bytes).
 * @param fds      fds to send (borrowed), @nr_fds of them.
 * @param reply    out: the reply (release with vfio_user_msg_release());
 *                 its fds are the caller's to take.
 * @return 0, or as the requests above (an error reply gives -error and
 *         @reply is released).
 */
int vfio_user_client_request(struct vfio_user_client *cli, uint16_t cmd, const void *req,
			     size_t req_len, const int *fds, unsigned int nr_fds,
			     struct vfio_user_msg *reply);

#ifdef __cplusplus
}
#endif

#endif /* _VFIO_USER_H_ */
