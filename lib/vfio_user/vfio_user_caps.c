/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VERSION negotiation: the payload is u16 major, u16 minor and an optional
 * NUL-terminated JSON object {"capabilities": {...}}. Parsing is strict
 * (jansson does the JSON; we bound and check everything around it) because
 * the peer is untrusted and the JSON is the only free-form input of the
 * protocol.
 */

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "vfio_user_private.h"

/* DMA page sizes must be multiples of the smallest page we can map. */
#define VFU_MIN_PGSIZE 4096u

void
vfio_user_caps_default(struct vfio_user_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->max_msg_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	caps->max_data_xfer_size = VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE;
	caps->max_dma_maps = VFIO_USER_DEFAULT_MAX_DMA_MAPS;
	caps->pgsizes = VFIO_USER_DEFAULT_PGSIZES;
	caps->sparse_mmap_fds = false;
}

/* An integer member within [min, max], or absent (then @out is kept). */
static int
get_uint(json_t *obj, const char *key, json_int_t min, json_int_t max, json_int_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v)) {
		VFU_ERR("VERSION: capability \"%s\" is not an integer", key);
		return -EINVAL;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		VFU_ERR("VERSION: capability \"%s\" = %lld out of range [%lld, %lld]", key,
			(long long)json_integer_value(v), (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

/* A member that must have jansson type @type if present. */
static int
check_type(json_t *obj, const char *key, json_type type)
{
	json_t *v = json_object_get(obj, key);

	if (v != NULL && json_typeof(v) != type) {
		VFU_ERR("VERSION: capability \"%s\" has the wrong type", key);
		return -EINVAL;
	}
	return 0;
}

static int
parse_caps(json_t *caps_obj, struct vfio_user_caps *caps)
{
	json_int_t v;
	json_t *b;
	int rc;

	v = caps->max_msg_fds;
	/* Any positive count is legal; we never use more than FDS_MAX. */
	rc = get_uint(caps_obj, "max_msg_fds", 1, INT32_MAX, &v);
	if (rc < 0)
		return rc;
	caps->max_msg_fds = v > VFIO_USER_FDS_MAX ? VFIO_USER_FDS_MAX : (uint32_t)v;

	v = caps->max_data_xfer_size;
	rc = get_uint(caps_obj, "max_data_xfer_size", 1, VFIO_USER_MAX_MAX_DATA_XFER_SIZE, &v);
	if (rc < 0)
		return rc;
	caps->max_data_xfer_size = (uint32_t)v;

	v = caps->max_dma_maps;
	rc = get_uint(caps_obj, "max_dma_maps", 1, VFIO_USER_DEFAULT_MAX_DMA_MAPS, &v);
	if (rc < 0)
		return rc;
	caps->max_dma_maps = (uint32_t)v;

	v = (json_int_t)caps->pgsizes;
	rc = get_uint(caps_obj, "pgsizes", VFU_MIN_PGSIZE, INT64_MAX, &v);
	if (rc < 0)
		return rc;
	if (v % VFU_MIN_PGSIZE != 0) {
		VFU_ERR("VERSION: pgsizes 0x%llx is not a multiple of %u",
			(unsigned long long)v, VFU_MIN_PGSIZE);
		return -EINVAL;
	}
	caps->pgsizes = (uint64_t)v;

	/* Known but unused here: only their types are checked. */
	if (check_type(caps_obj, "migration", JSON_OBJECT) < 0 ||
	    check_type(caps_obj, "twin_socket", JSON_OBJECT) < 0)
		return -EINVAL;
	b = json_object_get(caps_obj, "write_multiple");
	if (b != NULL && !json_is_boolean(b)) {
		VFU_ERR("VERSION: capability \"write_multiple\" is not a boolean");
		return -EINVAL;
	}
	b = json_object_get(caps_obj, VFIO_USER_CAP_SPARSE_MMAP_FDS);
	if (b != NULL) {
		if (!json_is_boolean(b)) {
			VFU_ERR("VERSION: capability \"%s\" is not a boolean",
				VFIO_USER_CAP_SPARSE_MMAP_FDS);
			return -EINVAL;
		}
		caps->sparse_mmap_fds = json_is_true(b);
	}
	return 0;
}

int
vfio_user_version_parse(const void *payload, size_t len, uint16_t *major, uint16_t *minor,
			struct vfio_user_caps *caps)
{
	const struct vfio_user_version *ver = payload;
	const char *json;
	const char *nul;
	json_error_t jerr;
	json_t *root, *caps_obj;
	size_t jlen;
	int rc;

	vfio_user_caps_default(caps);
	if (len < sizeof(*ver)) {
		VFU_ERR("VERSION: payload of %zu bytes, need at least %zu", len, sizeof(*ver));
		return -EINVAL;
	}
	*major = ver->major;
	*minor = ver->minor;
	jlen = len - sizeof(*ver);
	if (jlen == 0)
		return 0;
	if (jlen > VFIO_USER_JSON_MAX) {
		VFU_ERR("VERSION: JSON of %zu bytes exceeds %u", jlen, VFIO_USER_JSON_MAX);
		return -EINVAL;
	}
	json = (const char *)payload + sizeof(*ver);
	nul = memchr(json, '\0', jlen);
	if (nul != json + jlen - 1) {
		VFU_ERR("VERSION: JSON is %s", nul == NULL ? "not NUL-terminated" :
			"followed by bytes after its NUL");
		return -EINVAL;
	}
	root = json_loadb(json, jlen - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		VFU_ERR("VERSION: bad JSON at %d:%d: %.80s", jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	rc = -EINVAL;
	if (!json_is_object(root)) {
		VFU_ERR("VERSION: JSON is not an object");
		goto out;
	}
	caps_obj = json_object_get(root, "capabilities");
	if (caps_obj == NULL) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(caps_obj)) {
		VFU_ERR("VERSION: \"capabilities\" is not an object");
		goto out;
	}
	rc = parse_caps(caps_obj, caps);
out:
	json_decref(root);
	if (rc < 0)
		vfio_user_caps_default(caps);
	return rc;
}

int
vfio_user_version_build(void *buf, size_t size, uint16_t major, uint16_t minor,
			const struct vfio_user_caps *caps)
{
	struct vfio_user_version ver = { .major = major, .minor = minor };
	json_t *root, *c;
	size_t need;
	int rc = -ENOMEM;

	if (size < sizeof(ver) + 1)
		return -ENOSPC;
	root = json_object();
	c = json_object();
	if (root == NULL || c == NULL ||
	    json_object_set_new(c, "max_msg_fds", json_integer(caps->max_msg_fds)) < 0 ||
	    json_object_set_new(c, "max_data_xfer_size",
				json_integer(caps->max_data_xfer_size)) < 0 ||
	    json_object_set_new(c, "max_dma_maps", json_integer(caps->max_dma_maps)) < 0 ||
	    json_object_set_new(c, "pgsizes", json_integer((json_int_t)caps->pgsizes)) < 0 ||
	    (caps->sparse_mmap_fds &&
	     json_object_set_new(c, VFIO_USER_CAP_SPARSE_MMAP_FDS, json_true()) < 0))
		goto out;
	if (json_object_set(root, "capabilities", c) < 0)
		goto out;
	/* Leave room for the NUL that the protocol requires. */
	need = json_dumpb(root, (char *)buf + sizeof(ver), size - sizeof(ver) - 1,
			  JSON_COMPACT);
	if (need == 0 || need > size - sizeof(ver) - 1 || need + 1 > VFIO_USER_JSON_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	((char *)buf)[sizeof(ver) + need] = '\0';
	memcpy(buf, &ver, sizeof(ver));
	rc = (int)(sizeof(ver) + need + 1);
out:
	json_decref(c);
	json_decref(root);
	return rc;
}
