/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's telemetry socket: DPDK's telemetry protocol, version 2, as
 * Debian's dpdk-telemetry.py (package dpdk-dev) speaks it, served by the
 * device's own epoll loop (vvu_dev_telemetry.c). The device's commands
 * (/vvu/info, /vvu/stats, /vvu/requests) are in vvu_dev_tel_cmds.c.
 *
 * Why not librte_telemetry
 *
 *   dpdk-vvu-device is plain C without EAL (lib/vfio_user only). DPDK 22.11
 *   starts a telemetry socket only from rte_eal_init(): rte_telemetry_init()
 *   is exported in the INTERNAL version node, so calling it would tie the
 *   device to an interface DPDK may change in any release. Its server also
 *   runs its own thread per client, which would read the device's state
 *   while the loop changes it. Our server runs inside the loop: a command
 *   sees the counters between two events, with no lock and no atomics.
 *
 * The protocol (what the client expects)
 *
 *   A SOCK_SEQPACKET socket at RUNTIME/dpdk/PREFIX/dpdk_telemetry.v2, where
 *   RUNTIME is $RUNTIME_DIRECTORY, else /var/run for root, else
 *   $XDG_RUNTIME_DIR, else /tmp (the rule of EAL and of the script's -f
 *   PREFIX). When a live server already holds that name, the next free
 *   "dpdk_telemetry.v2:N" (N = 1, 2, ...) is taken: the script's -i N.
 *   On connect the server sends one message
 *       {"version": "...", "pid": P, "max_output_len": 16384}
 *   Each request is one message "CMD" or "CMD,PARAMS"; each reply is one
 *   message {"CMD": VALUE}, where VALUE is null for an unknown command, a
 *   command that refused its parameters, or a request that was too long.
 *   Standard commands: "/" (the list of commands), "/info" (the connect
 *   message again) and "/help,CMD" (CMD's help text).
 *
 * Untrusted clients
 *
 *   A request is at most VVU_DEV_TEL_MAX_REQUEST bytes; a longer one is
 *   answered null and not run. A command name longer than
 *   VVU_DEV_TEL_MAX_CMD is unknown. What a reply echoes of a request is JSON
 *   escaped. At most VVU_DEV_TEL_MAX_CLIENTS clients are served; more are
 *   accepted and closed at once (never left in the backlog). Every send is
 *   non-blocking: a client whose socket is full (it does not read its
 *   replies) is dropped. A client is served at most VVU_DEV_TEL_BUDGET
 *   requests per wake-up, so one cannot starve the device's other fds.
 *   The directory is created 0700: only the device's user can connect.
 */

#ifndef _VVU_DEV_TELEMETRY_H_
#define _VVU_DEV_TELEMETRY_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VVU_DEV_TEL_SOCKET		"dpdk_telemetry.v2"
/* What the connect message announces; every reply fits in it. */
#define VVU_DEV_TEL_MAX_OUTPUT		16384
/* A request (command and parameters) of more bytes is refused. */
#define VVU_DEV_TEL_MAX_REQUEST		1024
/* Command names are shorter than this (DPDK's limit too). */
#define VVU_DEV_TEL_MAX_CMD		56
#define VVU_DEV_TEL_MAX_CLIENTS		8
/* Requests served per client and wake-up of the loop. */
#define VVU_DEV_TEL_BUDGET		16
/* dpdk_telemetry.v2, then :1 .. :(MAX_INSTANCES - 1). */
#define VVU_DEV_TEL_MAX_INSTANCES	64
/* --file-prefix: 1..64 characters of [A-Za-z0-9_.-], not "." or "..". */
#define VVU_DEV_TEL_MAX_PREFIX		64
#define VVU_DEV_TEL_DEFAULT_PREFIX	"vvu-device"

struct vvu_device;
struct vvu_dev_loop;
struct vvu_dev_tel;

/*
 * A reply under construction: one JSON value, written in order. Keys are
 * given inside a dict and NULL inside an array or at the top (else the
 * reply becomes null). Past
 * VVU_DEV_TEL_MAX_OUTPUT the writer only records the overflow, and the
 * reply becomes null. Nesting is at most VVU_DEV_TEL_MAX_DEPTH deep.
 */
#define VVU_DEV_TEL_MAX_DEPTH		4

struct vvu_dev_tel_out {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
	unsigned int depth;
	bool need_comma[VVU_DEV_TEL_MAX_DEPTH + 1];
	char closer[VVU_DEV_TEL_MAX_DEPTH + 1];	/* '}' or ']' per open level */
};

void vvu_dev_tel_dict_begin(struct vvu_dev_tel_out *o, const char *key);
void vvu_dev_tel_array_begin(struct vvu_dev_tel_out *o, const char *key);
/* Ends the innermost open dict or array. */
void vvu_dev_tel_end(struct vvu_dev_tel_out *o);
void vvu_dev_tel_u64(struct vvu_dev_tel_out *o, const char *key, uint64_t v);
void vvu_dev_tel_i64(struct vvu_dev_tel_out *o, const char *key, int64_t v);
/* s is escaped: any bytes are safe. */
void vvu_dev_tel_str(struct vvu_dev_tel_out *o, const char *key, const char *s);
void vvu_dev_tel_null(struct vvu_dev_tel_out *o, const char *key);

/*
 * A command: write exactly one value into o and return 0, or return a
 * negative errno (the reply is then null). params is NULL when the request
 * had no ',' and the text after the first ',' otherwise.
 */
typedef int (*vvu_dev_tel_cb)(void *ctx, const char *cmd, const char *params,
			      struct vvu_dev_tel_out *o);

struct vvu_dev_tel_cmd {
	const char *name;	/* "/vvu/stats": starts with '/', < MAX_CMD */
	vvu_dev_tel_cb fn;
	const char *help;
};

struct vvu_dev_tel_params {
	const char *dir;		/* the socket directory (vvu_dev_tel_dir) */
	const char *version;		/* the connect message's "version" */
	const struct vvu_dev_tel_cmd *cmds;	/* besides /, /info and /help */
	unsigned int nb_cmds;
	void *ctx;			/* the commands' first argument */
	const struct vvu_device *log;	/* whose log lines (may be NULL) */
};

/* Whether prefix is a valid --file-prefix (see VVU_DEV_TEL_MAX_PREFIX). */
bool vvu_dev_tel_prefix_ok(const char *prefix);
/*
 * RUNTIME/dpdk/prefix into buf (RUNTIME as above), creating the missing
 * directories 0700. 0, -EINVAL (bad prefix), -ENAMETOOLONG, -ENOTDIR (a
 * non-directory is in the way) or the mkdir's negative errno.
 */
int vvu_dev_tel_dir(const char *prefix, char *buf, size_t len);

/*
 * Listen in p->dir (the first free instance name, see above) and serve
 * from loop. The tables p points to must outlive the server. NULL with
 * *err set (negative errno) on failure: -EADDRINUSE when every instance
 * name is held by a live server.
 */
struct vvu_dev_tel *vvu_dev_tel_start(struct vvu_dev_loop *loop,
				      const struct vvu_dev_tel_params *p, int *err);
/* Close every client and the socket, unlink it, rmdir an empty p->dir. */
void vvu_dev_tel_stop(struct vvu_dev_tel *tel);
/* The socket's path, and how many clients are connected now. */
const char *vvu_dev_tel_path(const struct vvu_dev_tel *tel);
unsigned int vvu_dev_tel_clients(const struct vvu_dev_tel *tel);

/*
 * The device's commands (vvu_dev_tel_cmds.c): a server for dev on
 * dev->loop, in the directory of prefix. NULL with *err on failure.
 */
struct vvu_dev_tel *vvu_dev_tel_start_device(struct vvu_device *dev, const char *prefix,
					     int *err);

#endif /* _VVU_DEV_TELEMETRY_H_ */
