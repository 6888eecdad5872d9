/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every table of vhost-user messages in the project says the same thing:
 *  - lib/vhost's rules table (vhost_user_msg_rule_info()), which decides
 *    what a back-end on our library accepts;
 *  - the VVU device's forwarding table (vvu_dev_fwd_rule()), which decides
 *    what reaches such a back-end through dpdk-vvu-device;
 *  - the libFuzzer dictionaries of the message fuzzers (argv[1] is
 *    devtools/fuzz; each target's dictionary is <target>.dict there).
 *
 * A disagreement is a bug either way: a device that forwards a size the
 * library refuses turns a front-end's mistake into a back-end disconnect
 * (or the reverse, refuses what the back-end would take), and a dictionary
 * token the tables refuse steers the fuzzer at the size check instead of
 * past it. Ids, names, payload sizes and fd counts are compared.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "vhost_user_priv.h"
#include "vvu_device.h"

/* The fuzz targets whose input is vhost-user records, each with a dictionary. */
static const char *const dict_targets[] = { "fuzz_vhost_msg", "fuzz_vvu_forward" };

#define DICT_MAX_ENTRIES	256
#define DICT_TOKEN_MAX		64

struct dict_entry {
	char name[48];
	uint8_t bytes[DICT_TOKEN_MAX];
	size_t len;
	unsigned int line;
};

struct dict {
	char path[512];
	struct dict_entry e[DICT_MAX_ENTRIES];
	unsigned int n;
};

static const char *fuzz_dir;
static struct dict dict;

static int
hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/*
 * One line of a libFuzzer dictionary: blank, a '#' comment, or
 * [name=]"token" with \\, \" and \xHH escapes (what libFuzzer's parser
 * accepts). 1: an entry, 0: nothing, -1: malformed.
 */
static int
dict_parse_line(const char *line, struct dict_entry *e)
{
	const char *q;
	size_t end;

	while (isspace((unsigned char)*line))
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	end = strlen(line);
	while (end > 0 && isspace((unsigned char)line[end - 1]))
		end--;
	q = strchr(line, '"');
	if (q == NULL || (size_t)(q - line) + 1 >= end || line[end - 1] != '"')
		return -1;
	if (q > line) {
		if (q[-1] != '=' || (size_t)(q - line) - 1 >= sizeof(e->name))
			return -1;
		memcpy(e->name, line, (size_t)(q - line) - 1);
		e->name[q - line - 1] = '\0';
	} else {
		e->name[0] = '\0';
	}
	e->len = 0;
	for (q++; q < line + end - 1; q++) {
		uint8_t b = (uint8_t)*q;

		if (b == '\\' && (q[1] == '\\' || q[1] == '"')) {
			b = (uint8_t)*++q;
		} else if (b == '\\' && q[1] == 'x' && isxdigit((unsigned char)q[2]) &&
			   isxdigit((unsigned char)q[3])) {
			b = (uint8_t)(hexval(q[2]) << 4 | hexval(q[3]));
			q += 3;
		} else if (b == '\\' || b == '"' || !isprint(b)) {
			return -1;
		}
		if (e->len == sizeof(e->bytes))
			return -1;
		e->bytes[e->len++] = b;
	}
	return 1;
}

/* Load <fuzz_dir>/<target>.dict into dict, failing the case on any bad line. */
static void
dict_load(const char *target)
{
	char line[1024];
	unsigned int lineno = 0;
	FILE *f;

	TEST_ASSERT(fuzz_dir != NULL, "no devtools/fuzz directory (argv[1])");
	snprintf(dict.path, sizeof(dict.path), "%s/%s.dict", fuzz_dir, target);
	dict.n = 0;
	f = fopen(dict.path, "r");
	TEST_ASSERT(f != NULL, "%s: %s", dict.path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct dict_entry *e = &dict.e[dict.n];
		int ret;

		lineno++;
		if (dict.n == DICT_MAX_ENTRIES) {
			fclose(f);
			TEST_ASSERT(0, "%s: more than %d entries", dict.path, DICT_MAX_ENTRIES);
		}
		ret = dict_parse_line(line, e);
		if (ret < 0) {
			fclose(f);
			TEST_ASSERT(0, "%s:%u: not a libFuzzer dictionary line", dict.path,
				    lineno);
		}
		if (ret > 0) {
			e->line = lineno;
			dict.n++;
		}
	}
	fclose(f);
	TEST_ASSERT(dict.n > 0, "%s has no entry", dict.path);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

/* The library's row, which every request the project knows must have. */
static void
lib_rule(uint32_t req, struct vhost_msg_rule_info *info)
{
	int ret = vhost_user_msg_rule_info(req, info);

	TEST_ASSERT(ret == 0 && info->name != NULL, "library has no row for request %u", req);
}

static bool
dev_forwards(const struct vvu_dev_fwd_rule *r)
{
	return r != NULL && r->action != VVU_FWD_REFUSE;
}

TEST_CASE(library_and_device_have_a_row_per_request_id)
{
	struct vhost_msg_rule_info info;
	uint32_t req;

	TEST_ASSERT_EQ(vhost_user_msg_rule_info(VHOST_USER_NONE, &info), -ENOENT);
	TEST_ASSERT_EQ(vhost_user_msg_rule_info(VHOST_USER_REQUEST_MAX, &info), -ENOENT);
	TEST_ASSERT(vvu_dev_fwd_rule(VHOST_USER_NONE) == NULL);
	TEST_ASSERT(vvu_dev_fwd_rule(VHOST_USER_REQUEST_MAX) == NULL);
	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		const struct vvu_dev_fwd_rule *r = vvu_dev_fwd_rule(req);

		lib_rule(req, &info);
		TEST_ASSERT(r != NULL && r->name != NULL, "device has no row for %s (%u)",
			    info.name, req);
	}
}

TEST_CASE(library_and_device_name_each_id_alike)
{
	struct vhost_msg_rule_info info;
	uint32_t req;

	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		const struct vvu_dev_fwd_rule *r = vvu_dev_fwd_rule(req);

		lib_rule(req, &info);
		TEST_ASSERT(strcmp(r->name, info.name) == 0, "request %u: device says %s,"
			    " library says %s", req, r->name, info.name);
	}
}

TEST_CASE(device_forwards_library_payload_sizes)
{
	struct vhost_msg_rule_info info;
	unsigned int forwarded = 0;
	uint32_t req;

	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		const struct vvu_dev_fwd_rule *r = vvu_dev_fwd_rule(req);

		lib_rule(req, &info);
		if (!dev_forwards(r))
			continue;
		forwarded++;
		TEST_ASSERT(r->min_size == info.min_size && r->max_size == info.max_size,
			    "%s: device forwards %u..%u payload bytes, library accepts %u..%u",
			    info.name, r->min_size, r->max_size, info.min_size, info.max_size);
		/* the largest one fits the device's message buffer */
		TEST_ASSERT(VHOST_USER_HDR_SIZE + info.max_size <= VVU_MSG_MAX);
	}
	TEST_ASSERT(forwarded > 20, "only %u requests forwarded", forwarded);
}

TEST_CASE(device_consumes_the_fds_the_library_expects)
{
	struct vhost_msg_rule_info info;
	uint32_t req;

	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		const struct vvu_dev_fwd_rule *r = vvu_dev_fwd_rule(req);
		uint8_t want;

		lib_rule(req, &info);
		if (!dev_forwards(r)) {
			/* refused rows state nothing else */
			TEST_ASSERT(r->fds == VVU_FDS_NONE && r->max_size == 0,
				    "refused %s states a size or fds", info.name);
			continue;
		}
		switch (info.fds) {
		case VHOST_MSG_FDS_NONE:
			want = VVU_FDS_NONE;
			break;
		case VHOST_MSG_FDS_NOFD_BIT:
			want = VVU_FDS_VRING;
			break;
		case VHOST_MSG_FDS_PER_REGION:
			want = VVU_FDS_TABLE;
			break;
		default:
			/* one fd the device would have to forward: it never does */
			TEST_ASSERT(0, "device forwards %s, which carries an fd (rule %u)",
				    info.name, info.fds);
			return;
		}
		TEST_ASSERT(r->fds == want, "%s: device fd rule %u, library fd rule %u",
			    info.name, r->fds, info.fds);
		/* what carries fds is consumed by the matching action */
		TEST_ASSERT(want != VVU_FDS_TABLE || r->action == VVU_FWD_MEM_TABLE);
		TEST_ASSERT(want != VVU_FDS_VRING || r->action == VVU_FWD_KICK ||
			    r->action == VVU_FWD_CALL || r->action == VVU_FWD_ERR);
		TEST_ASSERT(want != VVU_FDS_NONE || r->action == VVU_FWD_PASS ||
			    r->action == VVU_FWD_SET_PROTO, "%s consumes no fd", info.name);
	}
}

static int
probe(struct vvu_device *dev, uint32_t req, uint32_t size)
{
	struct vvu_dev_fe_msg m;
	int i;

	memset(&m, 0, sizeof(m));
	m.msg.hdr.request = req;
	m.msg.hdr.flags = VHOST_USER_VERSION;
	m.msg.hdr.size = size;
	m.len = VHOST_USER_HDR_SIZE + size;
	for (i = 0; i < VHOST_USER_MAX_FDS; i++)
		m.fds[i] = -1;
	dev->fe.has_pending = false;
	return vvu_dev_fwd_frontend_msg(dev, &m);
}

TEST_CASE(device_refuses_sizes_the_library_refuses)
{
	static struct vvu_device dev;
	struct vvu_dev_options o = { .num_queues = 4, .shm_size = 1 << 20,
				     .virtio_id = VVU_VIRTIO_ID_DEFAULT, .verbose = -1 };
	struct vhost_msg_rule_info info;
	uint32_t req;

	TEST_ASSERT(vvu_dev_init(&dev, &o, NULL) == 0);
	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		lib_rule(req, &info);
		if (info.min_size > 0)
			TEST_ASSERT(probe(&dev, req, info.min_size - 1U) < 0,
				    "%s of %u bytes forwarded", info.name, info.min_size - 1U);
		if (info.max_size < VHOST_USER_PAYLOAD_MAX)
			TEST_ASSERT(probe(&dev, req, info.max_size + 1U) < 0,
				    "%s of %u bytes forwarded", info.name, info.max_size + 1U);
	}
	vvu_dev_fini(&dev);
}

/* Each entry: a 12-byte header of version 1, named and sized as the tables say. */
static void
check_dictionary(const char *target)
{
	unsigned int i;

	dict_load(target);
	for (i = 0; i < dict.n; i++) {
		const struct dict_entry *e = &dict.e[i];
		const struct vvu_dev_fwd_rule *r;
		struct vhost_msg_rule_info info;
		uint32_t req, flags, size;

		TEST_ASSERT(e->len == VHOST_USER_HDR_SIZE, "%s:%u: %zu bytes, not a header",
			    dict.path, e->line, e->len);
		req = le32(e->bytes);
		flags = le32(e->bytes + 4);
		size = le32(e->bytes + 8);
		TEST_ASSERT(vhost_user_msg_rule_info(req, &info) == 0,
			    "%s:%u: request %u unknown to the library", dict.path, e->line, req);
		TEST_ASSERT(strcmp(e->name, info.name) == 0, "%s:%u: %s names request %u (%s)",
			    dict.path, e->line, e->name, req, info.name);
		TEST_ASSERT(flags == VHOST_USER_VERSION, "%s:%u: flags 0x%x", dict.path, e->line,
			    flags);
		TEST_ASSERT(size >= info.min_size && size <= info.max_size,
			    "%s:%u: %s with %u bytes, library accepts %u..%u", dict.path,
			    e->line, e->name, size, info.min_size, info.max_size);
		r = vvu_dev_fwd_rule(req);
		TEST_ASSERT(!dev_forwards(r) || (size >= r->min_size && size <= r->max_size),
			    "%s:%u: %s with %u bytes, device forwards %u..%u", dict.path,
			    e->line, e->name, size, r->min_size, r->max_size);
		/* SET_MEM_TABLE's size is a region count the payload must match */
		if (info.fds == VHOST_MSG_FDS_PER_REGION)
			TEST_ASSERT((size - offsetof(struct vhost_user_memory, regions)) %
				    sizeof(struct vhost_user_mem_region) == 0);
	}
}

/* Every request once, in each target's dictionary. */
static void
check_dictionary_covers(const char *target)
{
	unsigned int seen[VHOST_USER_REQUEST_MAX] = { 0 };
	unsigned int i;
	uint32_t req;

	dict_load(target);
	for (i = 0; i < dict.n; i++) {
		req = le32(dict.e[i].bytes);
		if (dict.e[i].len == VHOST_USER_HDR_SIZE && req < VHOST_USER_REQUEST_MAX)
			seen[req]++;
	}
	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		struct vhost_msg_rule_info info;

		lib_rule(req, &info);
		TEST_ASSERT(seen[req] == 1, "%s: %s (%u) appears %u times, expected once",
			    dict.path, info.name, req, seen[req]);
	}
}

TEST_CASE(dictionary_headers_are_accepted_by_library_and_device)
{
	unsigned int i;

	for (i = 0; i < sizeof(dict_targets) / sizeof(dict_targets[0]); i++)
		check_dictionary(dict_targets[i]);
}

TEST_CASE(dictionary_has_one_header_per_request_id)
{
	unsigned int i;

	for (i = 0; i < sizeof(dict_targets) / sizeof(dict_targets[0]); i++)
		check_dictionary_covers(dict_targets[i]);
}

TEST_CASE(dictionary_parser_reads_libfuzzer_syntax)
{
	struct dict_entry e;

	TEST_ASSERT_EQ(dict_parse_line("# comment\n", &e), 0);
	TEST_ASSERT_EQ(dict_parse_line("   \n", &e), 0);
	TEST_ASSERT_EQ(dict_parse_line("a=\"\\x01\\\\\\\"z\"\n", &e), 1);
	TEST_ASSERT(strcmp(e.name, "a") == 0 && e.len == 4);
	TEST_ASSERT(e.bytes[0] == 1 && e.bytes[1] == '\\' && e.bytes[2] == '"' &&
		    e.bytes[3] == 'z');
	TEST_ASSERT_EQ(dict_parse_line("\"x\"", &e), 1);
	TEST_ASSERT(e.name[0] == '\0' && e.len == 1);
	TEST_ASSERT_EQ(dict_parse_line("a=\"\\x0\"", &e), -1);
	TEST_ASSERT_EQ(dict_parse_line("a=\"x", &e), -1);
	TEST_ASSERT_EQ(dict_parse_line("a \"x\"", &e), -1);
}

static int
tables_setup(int argc, char **argv)
{
	fuzz_dir = argc > 1 ? argv[1] : NULL;
	return 0;
}

TEST_MAIN(tables_setup, NULL,
	TEST_ENTRY(library_and_device_have_a_row_per_request_id),
	TEST_ENTRY(library_and_device_name_each_id_alike),
	TEST_ENTRY(device_forwards_library_payload_sizes),
	TEST_ENTRY(device_consumes_the_fds_the_library_expects),
	TEST_ENTRY(device_refuses_sizes_the_library_refuses),
	TEST_ENTRY(dictionary_parser_reads_libfuzzer_syntax),
	TEST_ENTRY(dictionary_headers_are_accepted_by_library_and_device),
	TEST_ENTRY(dictionary_has_one_header_per_request_id))
