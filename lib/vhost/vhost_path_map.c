/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VHOST_VVU_PATH_MAP: serve a registered path over another transport path,
 * for applications that cannot be told one.
 *
 * Some applications hard-code the path they register (DPDK's
 * examples/vhost_blk registers <cwd>/vhost.socket). The variable maps such a
 * path to the path a transport serves instead, typically a VVU device:
 *
 *   VHOST_VVU_PATH_MAP=/srv/vhost.socket=vfio-user:/run/vvu.sock[,FROM=TO...]
 *
 * The application keeps using the path it registered with every rte_vhost_*
 * call (and rte_vhost_get_ifname() returns it); only the transport choice
 * and the transport's own address use the mapped one. FROM is compared as a
 * string, exactly as the application passes it.
 *
 * The variable comes from whoever starts the process: it is checked whole on
 * every registration, and a malformed one (an entry without "=", an empty
 * side, a side of VHOST_IFNAME_MAX bytes or more, an empty entry, the same
 * FROM twice) fails every registration with one log line rather than
 * silently serving the unmapped path.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhost.h"
#include "vhost_transport.h"

/* One side of an entry: [s, s + len). */
static int
path_map_side_ok(size_t len, const char **why)
{
	if (len == 0) {
		*why = "an entry has an empty side";
		return -EINVAL;
	}
	if (len >= VHOST_IFNAME_MAX) {
		*why = "a path is too long";
		return -EINVAL;
	}
	return 0;
}

int
vhost_path_map_lookup(const char *map, const char *path, char *out, size_t out_len,
		      const char **why)
{
	const char *entry = map, *end, *eq, *other;
	size_t from_len, to_len, path_len = strlen(path);
	int found = 0;

	*why = NULL;
	if (*map == '\0') {
		*why = "empty";
		return -EINVAL;
	}
	for (;;) {
		end = strchr(entry, ',');
		if (end == NULL)
			end = entry + strlen(entry);
		eq = memchr(entry, '=', (size_t)(end - entry));
		if (eq == NULL) {
			*why = end == entry ? "an entry is empty" : "an entry has no '='";
			return -EINVAL;
		}
		from_len = (size_t)(eq - entry);
		to_len = (size_t)(end - eq - 1);
		if (path_map_side_ok(from_len, why) < 0 || path_map_side_ok(to_len, why) < 0)
			return -EINVAL;
		/* The same FROM twice would make the choice depend on the order. */
		for (other = map; other < entry; ) {
			const char *oend = strchr(other, ',');
			const char *oeq = memchr(other, '=', (size_t)(oend - other));

			if ((size_t)(oeq - other) == from_len &&
			    memcmp(other, entry, from_len) == 0) {
				*why = "a path is mapped twice";
				return -EINVAL;
			}
			other = oend + 1;
		}
		if (from_len == path_len && memcmp(entry, path, path_len) == 0) {
			if (to_len >= out_len) {
				*why = "a path is too long";
				return -EINVAL;
			}
			memcpy(out, eq + 1, to_len);
			out[to_len] = '\0';
			found = 1;
		}
		if (*end == '\0')
			break;
		entry = end + 1;
	}
	return found;
}

int
vhost_path_map(const char *path, char *out, size_t out_len)
{
	const char *map = getenv(VHOST_PATH_MAP_ENV);
	const char *why;
	int ret;

	if (map == NULL) {
		ret = 0;
	} else {
		ret = vhost_path_map_lookup(map, path, out, out_len, &why);
		if (ret < 0) {
			VHOST_LOG_CONFIG(path, ERR, "%s is malformed (%s): refusing to register\n",
					 VHOST_PATH_MAP_ENV, why);
			return ret;
		}
	}
	if (ret == 0) {
		if (strlen(path) >= out_len)
			return -ENAMETOOLONG;
		strcpy(out, path);
		return 0;
	}
	VHOST_LOG_CONFIG(path, INFO, "served at %s (%s)\n", out, VHOST_PATH_MAP_ENV);
	return 1;
}
