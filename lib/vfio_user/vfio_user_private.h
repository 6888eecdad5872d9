/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal helpers shared by the files of lib/vfio_user. Not installed,
 * not for users of the library.
 */

#ifndef _VFIO_USER_PRIVATE_H_
#define _VFIO_USER_PRIVATE_H_

#include <stdint.h>

#include "vfio_user.h"

/**
 * Emit one log line (no trailing newline needed) through the user's sink.
 * Thread safe as long as the sink is.
 */
void vfio_user_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define VFU_ERR(...) vfio_user_log(VFIO_USER_LOG_ERR, __VA_ARGS__)
#define VFU_WARN(...) vfio_user_log(VFIO_USER_LOG_WARNING, __VA_ARGS__)
#define VFU_INFO(...) vfio_user_log(VFIO_USER_LOG_INFO, __VA_ARGS__)
#define VFU_DEBUG(...) vfio_user_log(VFIO_USER_LOG_DEBUG, __VA_ARGS__)

/** Monotonic clock in milliseconds. */
int64_t vfio_user_now_ms(void);

/** Absolute deadline for a relative timeout; -1 (forever) if @timeout_ms < 0. */
int64_t vfio_user_deadline(int timeout_ms);

/**
 * vfio_user_recv_msg() with separate patience for the first byte and for
 * the whole message: @first_timeout_ms 0 returns -EAGAIN at once if the
 * socket has nothing; @deadline (absolute, vfio_user_deadline()) bounds
 * the rest.
 */
int vfio_user_recv_msg_ex(int sock, struct vfio_user_msg *msg, size_t max_payload,
			  unsigned int max_fds, int first_timeout_ms, int64_t deadline);

/** Name of a command for log lines ("unknown" if out of range). */
const char *vfio_user_cmd_name(uint32_t cmd);

/** Close an fd array's valid entries and set them to -1. */
void vfio_user_close_fds(int *fds, unsigned int nr);

#endif /* _VFIO_USER_PRIVATE_H_ */
