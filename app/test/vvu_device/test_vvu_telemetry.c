/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's telemetry server (app/vvu-device/vvu_dev_telemetry.c) and its
 * commands (vvu_dev_tel_cmds.c).
 *
 * The server cases run it in this process on a device loop, with test
 * commands, and talk to it over real SEQPACKET sockets: the connect message
 * and the standard commands byte for byte, hostile requests (unknown, too
 * long, quotes and control bytes, fds, a command writing too much, too
 * deep or malformed, a reply of exactly the limit), too many clients, a client that never reads, socket names taken by
 * live, stale and foreign files, and clean-up. RUNTIME_DIRECTORY points at a
 * private temporary directory for the whole binary.
 *
 * The binary cases run dpdk-vvu-device (argv[1] or $VVU_DEVICE; skipped
 * without): bad telemetry options exit 2; two devices on the default prefix
 * take instances 0 and 1 and remove them on SIGTERM; --no-telemetry makes no
 * directory; a named prefix that cannot come up exits 1, the default one
 * failing leaves the device running.
 *
 * The device case forks a device process with its vfio-user server and
 * telemetry (as dpdk-vvu-device runs them), drives it as a driver and a
 * front-end (vvu_test_peer.h), and checks that /vvu/stats, /vvu/requests
 * and /vvu/info count exactly the messages, bytes, kicks, doorbells and
 * sessions the test made, including a request that dies unrelayed with its
 * session.
 */

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"
#include "vvu_test_peer.h"
#include "vvu_dev_telemetry.h"

#define REPLY_MS	2000
#define REPLY_MAX	(VVU_DEV_TEL_MAX_OUTPUT + 1)

static char rundir[64];
static struct vvu_dev_loop *loop;
/* the device case's peers */
static struct peer_dev pd = { .pid = -1 };
static struct peer_drv drv;
/* the binary cases' dpdk-vvu-device, or NULL */
static const char *device_path;
static unsigned int count_calls;

/* ---- test commands ---- */

static int
t_echo(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	if (params == NULL)
		vvu_dev_tel_null(o, NULL);
	else
		vvu_dev_tel_str(o, NULL, params);
	return 0;
}

static int
t_count(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	vvu_dev_tel_u64(o, NULL, ++count_calls);
	return 0;
}

static int
t_fill(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	static char s[VVU_DEV_TEL_MAX_OUTPUT];
	/* a string of params bytes (at most 16383), else 15000 */
	size_t n = params != NULL ? strtoul(params, NULL, 10) : 15000;

	if (n >= sizeof(s))
		return -EINVAL;
	memset(s, 'x', n);
	s[n] = '\0';
	vvu_dev_tel_str(o, NULL, s);
	return 0;
}

static int
t_two(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	vvu_dev_tel_u64(o, NULL, 1);
	vvu_dev_tel_u64(o, NULL, 2);
	return 0;
}

static int
t_err(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	vvu_dev_tel_dict_begin(o, NULL);
	return -EINVAL;
}

static int
t_nest(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	unsigned int i, depth = params != NULL ? (unsigned int)atoi(params) : 0;

	if (params != NULL && strcmp(params, "keyless") == 0) {
		vvu_dev_tel_dict_begin(o, NULL);
		vvu_dev_tel_u64(o, NULL, 1);
		vvu_dev_tel_end(o);
		return 0;
	}
	if (params != NULL && strcmp(params, "keyed") == 0) {
		vvu_dev_tel_array_begin(o, "k");
		vvu_dev_tel_end(o);
		return 0;
	}
	if (depth > 0) {
		for (i = 0; i < depth; i++)
			vvu_dev_tel_array_begin(o, NULL);
		for (i = 0; i < depth; i++)
			vvu_dev_tel_end(o);
		return 0;
	}
	vvu_dev_tel_dict_begin(o, NULL);
	vvu_dev_tel_array_begin(o, "a");
	vvu_dev_tel_u64(o, NULL, 1);
	vvu_dev_tel_str(o, NULL, "x");
	vvu_dev_tel_end(o);
	vvu_dev_tel_dict_begin(o, "b");
	vvu_dev_tel_null(o, "c");
	vvu_dev_tel_i64(o, "d", -5);
	vvu_dev_tel_end(o);
	vvu_dev_tel_end(o);
	return 0;
}

static const struct vvu_dev_tel_cmd test_cmds[] = {
	{ "/t/echo", t_echo, "Echo" },
	{ "/t/count", t_count, "Count" },
	{ "/t/fill", t_fill, "Fill" },
	{ "/t/two", t_two, "Two" },
	{ "/t/err", t_err, "Err" },
	{ "/t/nest", t_nest, "Nest" },
};

/* Whose log lines the servers print: none unless VVU_TEST_VERBOSE is set. */
static struct vvu_device quiet = { .opt.verbose = -1 };

static char *
tel_dir(const char *prefix)
{
	static char dir[108];

	TEST_ASSERT(vvu_dev_tel_dir(prefix, dir, sizeof(dir)) == 0, "dir for %s", prefix);
	return dir;
}

static struct vvu_dev_tel *
server(const char *prefix)
{
	struct vvu_dev_tel_params p = {
		.dir = tel_dir(prefix), .version = "test 1", .cmds = test_cmds,
		.nb_cmds = sizeof(test_cmds) / sizeof(test_cmds[0]),
		.log = test_verbose() ? NULL : &quiet,
	};
	struct vvu_dev_tel *tel;
	int err = 0;

	tel = vvu_dev_tel_start(loop, &p, &err);
	TEST_ASSERT(tel != NULL, "start in %s: %s", p.dir, strerror(-err));
	return tel;
}

static int
client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		    path, strerror(errno));
	return fd;
}

/*
 * The next message on fd, running the server's loop meanwhile: its length
 * (buf is NUL-terminated), 0 on EOF, -1 after ms without one.
 */
static ssize_t
client_recv(int fd, char *buf, size_t cap, int ms)
{
	int64_t end = test_now_ms() + ms;

	do {
		ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);

		if (n >= 0) {
			buf[n] = '\0';
			return n;
		}
		if (errno == ECONNRESET)
			return 0;
		TEST_ASSERT(errno == EAGAIN, "recv: %s", strerror(errno));
		vvu_dev_loop_run_once(loop, 5);
	} while (test_now_ms() < end);
	return -1;
}

static char hello_want[128];

/* Connect and check the connect message. */
static int
client(const char *path)
{
	char buf[256];
	int fd = client_connect(path);

	TEST_ASSERT(client_recv(fd, buf, sizeof(buf), REPLY_MS) > 0, "no connect message");
	TEST_ASSERT(strcmp(buf, hello_want) == 0, "connect message %s", buf);
	return fd;
}

/* Send len bytes of req and return the reply (static buffer). */
static const char *
ask_n(int fd, const char *req, size_t len)
{
	static char buf[REPLY_MAX];

	TEST_ASSERT(send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len, "send: %s",
		    strerror(errno));
	TEST_ASSERT(client_recv(fd, buf, sizeof(buf), REPLY_MS) > 0, "no reply to %.60s", req);
	return buf;
}

static const char *
ask(int fd, const char *req)
{
	return ask_n(fd, req, strlen(req));
}

#define ASK_EQ(fd, req, want) do { \
	const char *_got = ask(fd, req); \
	TEST_ASSERT(strcmp(_got, want) == 0, "%s -> %.200s, expected %s", req, _got, want); \
} while (0)

static void
unlink_all(const char *dir)
{
	char p[300];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0) {
			unlink_all(p);
			rmdir(p);
		}
	}
	if (d != NULL)
		closedir(d);
}

static int
tel_setup(int argc, char **argv)
{
	snprintf(rundir, sizeof(rundir), "/tmp/vvu-tel-XXXXXX");
	if (mkdtemp(rundir) == NULL)
		return -1;
	setenv("RUNTIME_DIRECTORY", rundir, 1);
	snprintf(hello_want, sizeof(hello_want),
		 "{\"version\":\"test 1\",\"pid\":%d,\"max_output_len\":%d}", (int)getpid(),
		 VVU_DEV_TEL_MAX_OUTPUT);
	signal(SIGPIPE, SIG_IGN);
	peer_drv_init(&drv);
	device_path = argc > 1 ? argv[1] : getenv("VVU_DEVICE");
	if (device_path != NULL && access(device_path, X_OK) != 0)
		device_path = NULL;
	loop = vvu_dev_loop_create();
	return loop == NULL ? -1 : 0;
}

static void
tel_teardown(void)
{
	/* the device case's peers, also when it failed half-way */
	peer_drv_down(&drv);
	if (pd.pid > 0)
		peer_dev_stop(&pd);
	vvu_dev_loop_destroy(loop);
	unlink_all(rundir);
	rmdir(rundir);
}

/* ---- paths ---- */

TEST_CASE(prefix_rules_and_private_directory)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "a b", "x\"", "é",
		"0123456789012345678901234567890123456789012345678901234567890123x" };
	char dir[108], want[128], file[128];
	struct stat st;
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TEST_ASSERT(!vvu_dev_tel_prefix_ok(bad[i]), "prefix '%s' accepted", bad[i]);
		TEST_ASSERT_EQ(vvu_dev_tel_dir(bad[i], dir, sizeof(dir)), -EINVAL);
	}
	TEST_ASSERT(!vvu_dev_tel_prefix_ok(NULL));
	TEST_ASSERT(vvu_dev_tel_prefix_ok("vvu-device_1.x"));
	TEST_ASSERT(vvu_dev_tel_prefix_ok(
		"0123456789012345678901234567890123456789012345678901234567890123"));
	/* RUNTIME_DIRECTORY/dpdk/PREFIX, both levels 0700 */
	TEST_ASSERT_EQ(vvu_dev_tel_dir("p1", dir, sizeof(dir)), 0);
	snprintf(want, sizeof(want), "%s/dpdk/p1", rundir);
	TEST_ASSERT(strcmp(dir, want) == 0, "%s", dir);
	TEST_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	TEST_ASSERT_EQ(st.st_mode & 0777, 0700);
	snprintf(want, sizeof(want), "%s/dpdk", rundir);
	TEST_ASSERT(stat(want, &st) == 0 && (st.st_mode & 0777) == 0700);
	/* again: the directories exist, fine */
	TEST_ASSERT_EQ(vvu_dev_tel_dir("p1", dir, sizeof(dir)), 0);
	/* a file in the way */
	snprintf(file, sizeof(file), "%s/dpdk/p2", rundir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	TEST_ASSERT_EQ(vvu_dev_tel_dir("p2", dir, sizeof(dir)), -ENOTDIR);
	unlink(file);
	TEST_ASSERT_EQ(vvu_dev_tel_dir("p1", dir, 10), -ENAMETOOLONG);
}

/* ---- protocol ---- */

TEST_CASE(connect_message_and_standard_commands)
{
	struct vvu_dev_tel *tel = server("std");
	char info[160];
	int fd = client(vvu_dev_tel_path(tel));

	TEST_ASSERT(strstr(vvu_dev_tel_path(tel), "/dpdk/std/dpdk_telemetry.v2") != NULL);
	ASK_EQ(fd, "/", "{\"/\":[\"/\",\"/info\",\"/help\",\"/t/echo\",\"/t/count\","
	       "\"/t/fill\",\"/t/two\",\"/t/err\",\"/t/nest\"]}");
	snprintf(info, sizeof(info), "{\"/info\":%s}", hello_want);
	ASK_EQ(fd, "/info", info);
	ASK_EQ(fd, "/help,/t/echo", "{\"/help\":{\"/t/echo\":\"Echo\"}}");
	ASK_EQ(fd, "/help,/help", "{\"/help\":{\"/help\":\"Returns the help text of a "
	       "command. Parameter: the command\"}}");
	ASK_EQ(fd, "/help", "{\"/help\":null}");
	ASK_EQ(fd, "/help,/nope", "{\"/help\":null}");
	ASK_EQ(fd, "/t/echo", "{\"/t/echo\":null}");
	ASK_EQ(fd, "/t/echo,", "{\"/t/echo\":\"\"}");
	ASK_EQ(fd, "/t/echo,a,b c", "{\"/t/echo\":\"a,b c\"}");
	ASK_EQ(fd, "/t/nest", "{\"/t/nest\":{\"a\":[1,\"x\"],\"b\":{\"c\":null,\"d\":-5}}}");
	ASK_EQ(fd, "/t/nest,4", "{\"/t/nest\":[[[[]]]]}");
	TEST_ASSERT_EQ(vvu_dev_tel_clients(tel), 1);
	close(fd);
	vvu_dev_tel_stop(tel);
}

TEST_CASE(hostile_requests_answered_null_and_never_run)
{
	struct vvu_dev_tel *tel = server("hostile");
	char req[VVU_DEV_TEL_MAX_REQUEST + 2], want[128];
	const char *got;
	unsigned int before;
	int fd = client(vvu_dev_tel_path(tel));
	int efd = eventfd(0, EFD_CLOEXEC), fds_before;

	ASK_EQ(fd, "/nope", "{\"/nope\":null}");
	ASK_EQ(fd, "nope", "{\"nope\":null}");
	ASK_EQ(fd, ",x", "{\"\":null}");
	/* what is echoed is escaped: the reply stays JSON */
	ASK_EQ(fd, "/a\"b\\c\x01\x7f\xff", "{\"/a\\\"b\\\\c\\u0001\\u007f\\u00ff\":null}");
	/* a NUL ends the request */
	got = ask_n(fd, "/t/echo,ab\0cd", 13);
	TEST_ASSERT(strcmp(got, "{\"/t/echo\":\"ab\"}") == 0, "%s", got);
	/* a command name of VVU_DEV_TEL_MAX_CMD bytes or more is unknown, echoed cut */
	memset(req, 'c', VVU_DEV_TEL_MAX_CMD + 10);
	req[0] = '/';
	req[VVU_DEV_TEL_MAX_CMD + 10] = '\0';
	snprintf(want, sizeof(want), "{\"%.*s\":null}", VVU_DEV_TEL_MAX_CMD, req);
	ASK_EQ(fd, req, want);
	/* a command that fails, writes two values, too much, or too deep: null */
	ASK_EQ(fd, "/t/err", "{\"/t/err\":null}");
	ASK_EQ(fd, "/t/two", "{\"/t/two\":null}");
	ASK_EQ(fd, "/t/fill,16383", "{\"/t/fill\":null}");
	/* {"/t/fill":"x...x"}: 14 bytes around the string; 16384 in all fits */
	got = ask(fd, "/t/fill,16370");
	TEST_ASSERT_EQ(strlen(got), VVU_DEV_TEL_MAX_OUTPUT);
	TEST_ASSERT(strcmp(got + VVU_DEV_TEL_MAX_OUTPUT - 3, "x\"}") == 0, "%s",
		    got + VVU_DEV_TEL_MAX_OUTPUT - 3);
	ASK_EQ(fd, "/t/fill,16371", "{\"/t/fill\":null}");
	ASK_EQ(fd, "/t/nest,5", "{\"/t/nest\":null}");
	ASK_EQ(fd, "/t/nest,keyless", "{\"/t/nest\":null}");
	ASK_EQ(fd, "/t/nest,keyed", "{\"/t/nest\":null}");
	got = ask(fd, "/t/fill");
	TEST_ASSERT_EQ(strlen(got), 15000 + strlen("{\"/t/fill\":\"\"}"));
	/* a request of MAX_REQUEST bytes runs; one byte more is answered null, not run */
	before = count_calls;
	memset(req, ' ', sizeof(req));
	memcpy(req, "/t/count,", 9);
	req[VVU_DEV_TEL_MAX_REQUEST] = '\0';
	snprintf(want, sizeof(want), "{\"/t/count\":%u}", before + 1);
	ASK_EQ(fd, req, want);
	TEST_ASSERT_EQ(count_calls, before + 1);
	req[VVU_DEV_TEL_MAX_REQUEST] = ' ';
	req[VVU_DEV_TEL_MAX_REQUEST + 1] = '\0';
	ASK_EQ(fd, req, "{\"/t/count\":null}");
	memset(req + 1, 'c', VVU_DEV_TEL_MAX_REQUEST);
	got = ask(fd, req);
	TEST_ASSERT(strstr(got, ":null}") != NULL, "%s", got);
	TEST_ASSERT_EQ(count_calls, before + 1);
	/* fds sent along are not kept by the server (it shares our fd table here) */
	fds_before = test_count_fds();
	TEST_ASSERT(test_send_fds(fd, "/t/count", 8, &efd, 1) == 0);
	TEST_ASSERT(client_recv(fd, req, sizeof(req), REPLY_MS) > 0);
	snprintf(want, sizeof(want), "{\"/t/count\":%u}", before + 2);
	TEST_ASSERT(strcmp(req, want) == 0, "%s", req);
	close(efd);
	TEST_ASSERT_EQ(test_count_fds(), fds_before - 1);
	/* and the client is still served */
	snprintf(want, sizeof(want), "{\"/t/count\":%u}", before + 3);
	ASK_EQ(fd, "/t/count", want);
	/* an empty message is an end, as EOF */
	TEST_ASSERT(send(fd, "", 0, 0) == 0);
	TEST_ASSERT_EQ(client_recv(fd, req, sizeof(req), REPLY_MS), 0);
	TEST_ASSERT_EQ(vvu_dev_tel_clients(tel), 0);
	close(fd);
	vvu_dev_tel_stop(tel);
}

TEST_CASE(too_many_clients_closed_at_once)
{
	struct vvu_dev_tel *tel = server("many");
	int fds[VVU_DEV_TEL_MAX_CLIENTS], extra, i;
	char buf[256];

	for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS; i++)
		fds[i] = client(vvu_dev_tel_path(tel));
	TEST_ASSERT_EQ(vvu_dev_tel_clients(tel), VVU_DEV_TEL_MAX_CLIENTS);
	extra = client_connect(vvu_dev_tel_path(tel));
	TEST_ASSERT_EQ(client_recv(extra, buf, sizeof(buf), REPLY_MS), 0);
	close(extra);
	for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS; i++)
		ASK_EQ(fds[i], "/t/echo,x", "{\"/t/echo\":\"x\"}");
	/* one leaves: the next one is served */
	close(fds[0]);
	fds[0] = client(vvu_dev_tel_path(tel));
	ASK_EQ(fds[0], "/t/echo,y", "{\"/t/echo\":\"y\"}");
	for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS; i++)
		close(fds[i]);
	/* the server sees every EOF */
	for (i = 0; i < 200 && vvu_dev_tel_clients(tel) != 0; i++)
		vvu_dev_loop_run_once(loop, 5);
	TEST_ASSERT_EQ(vvu_dev_tel_clients(tel), 0);
	vvu_dev_tel_stop(tel);
}

TEST_CASE(client_that_never_reads_is_dropped)
{
	struct vvu_dev_tel *tel = server("deaf");
	int deaf = client(vvu_dev_tel_path(tel)), other, i;

	other = client(vvu_dev_tel_path(tel));
	/* ask for 15 KB replies and read none: the server's sends fill the socket */
	for (i = 0; i < 10000 && vvu_dev_tel_clients(tel) == 2; i++) {
		(void)!send(deaf, "/t/fill", 7, MSG_DONTWAIT | MSG_NOSIGNAL);
		vvu_dev_loop_run_once(loop, 0);
	}
	TEST_ASSERT_EQ(vvu_dev_tel_clients(tel), 1);
	/* the loop never blocked, and the other client is served */
	ASK_EQ(other, "/t/echo,still", "{\"/t/echo\":\"still\"}");
	close(deaf);
	close(other);
	vvu_dev_tel_stop(tel);
}

/* ---- socket names ---- */

/* A socket file nobody listens on, as a killed server leaves it. */
static void
make_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	TEST_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
}

TEST_CASE(instances_stale_and_foreign_names)
{
	char v2[160], v2_1[170], v2_2[170];
	struct vvu_dev_tel *a, *b, *c;
	struct stat st;
	int fd;

	a = server("inst");
	snprintf(v2, sizeof(v2), "%s/%s", tel_dir("inst"), VVU_DEV_TEL_SOCKET);
	snprintf(v2_1, sizeof(v2_1), "%s:1", v2);
	snprintf(v2_2, sizeof(v2_2), "%s:2", v2);
	TEST_ASSERT(strcmp(vvu_dev_tel_path(a), v2) == 0, "%s", vvu_dev_tel_path(a));
	/* a live server holds v2: the next one takes :1 (dpdk-telemetry.py -i 1) */
	b = server("inst");
	TEST_ASSERT(strcmp(vvu_dev_tel_path(b), v2_1) == 0, "%s", vvu_dev_tel_path(b));
	fd = client(v2_1);
	close(fd);
	/* a stopped server removes its name; the next start takes it again */
	vvu_dev_tel_stop(a);
	TEST_ASSERT(access(v2, F_OK) < 0);
	a = server("inst");
	TEST_ASSERT(strcmp(vvu_dev_tel_path(a), v2) == 0, "%s", vvu_dev_tel_path(a));
	vvu_dev_tel_stop(a);
	/* a stale socket file (a killed server's) is replaced */
	make_stale_socket(v2);
	a = server("inst");
	TEST_ASSERT(strcmp(vvu_dev_tel_path(a), v2) == 0, "%s", vvu_dev_tel_path(a));
	fd = client(v2);
	close(fd);
	vvu_dev_tel_stop(a);
	/* a file that is not a socket is never removed: skipped */
	fd = open(v2, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	c = server("inst");
	TEST_ASSERT(strcmp(vvu_dev_tel_path(c), v2_2) == 0, "%s", vvu_dev_tel_path(c));
	TEST_ASSERT(lstat(v2, &st) == 0 && S_ISREG(st.st_mode));
	unlink(v2);
	vvu_dev_tel_stop(b);
	vvu_dev_tel_stop(c);
	/* the last one out removes the empty directory */
	TEST_ASSERT(access(tel_dir("inst"), F_OK) == 0);	/* tel_dir() made it again */
	a = server("inst");
	vvu_dev_tel_stop(a);
	snprintf(v2, sizeof(v2), "%s/dpdk/inst", rundir);
	TEST_ASSERT(access(v2, F_OK) < 0, "%s left behind", v2);
}

TEST_CASE(every_instance_taken_is_eaddrinuse)
{
	struct vvu_dev_tel *all[VVU_DEV_TEL_MAX_INSTANCES];
	struct vvu_dev_tel_params p = {
		.dir = tel_dir("full"), .version = "test 1", .cmds = test_cmds, .nb_cmds = 1,
	};
	int err = 0, i;

	for (i = 0; i < VVU_DEV_TEL_MAX_INSTANCES; i++)
		all[i] = server("full");
	TEST_ASSERT(vvu_dev_tel_start(loop, &p, &err) == NULL);
	TEST_ASSERT_EQ(err, -EADDRINUSE);
	for (i = 0; i < VVU_DEV_TEL_MAX_INSTANCES; i++)
		vvu_dev_tel_stop(all[i]);
}

TEST_CASE(bad_command_tables_refused)
{
	static const struct vvu_dev_tel_cmd no_slash[] = { { "t", t_echo, "x" } };
	static const struct vvu_dev_tel_cmd comma[] = { { "/t,x", t_echo, "x" } };
	static const struct vvu_dev_tel_cmd no_fn[] = { { "/t", NULL, "x" } };
	static const struct vvu_dev_tel_cmd no_help[] = { { "/t", t_echo, NULL } };
	static const struct vvu_dev_tel_cmd builtin[] = { { "/info", t_echo, "x" } };
	static const struct vvu_dev_tel_cmd twice[] = { { "/t", t_echo, "x" },
							{ "/t", t_echo, "y" } };
	static const struct vvu_dev_tel_cmd long_name[] = {
		{ "/0123456789012345678901234567890123456789012345678901234", t_echo, "x" } };
	static const struct {
		const struct vvu_dev_tel_cmd *cmds;
		unsigned int n;
		int err;
	} cases[] = {
		{ no_slash, 1, -EINVAL }, { comma, 1, -EINVAL }, { no_fn, 1, -EINVAL },
		{ no_help, 1, -EINVAL }, { builtin, 1, -EEXIST }, { twice, 2, -EEXIST },
		{ long_name, 1, -EINVAL },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vvu_dev_tel_params p = { .dir = tel_dir("bad"), .version = "v",
						.cmds = cases[i].cmds, .nb_cmds = cases[i].n };
		int err = 0;

		TEST_ASSERT(vvu_dev_tel_start(loop, &p, &err) == NULL, "case %u started", i);
		TEST_ASSERT_EQ(err, cases[i].err);
	}
}

TEST_CASE(stop_ends_clients_and_removes_the_socket)
{
	struct vvu_dev_tel *tel = server("stop");
	char path[160], buf[64];
	int fd = client(vvu_dev_tel_path(tel)), fds_before;

	snprintf(path, sizeof(path), "%s", vvu_dev_tel_path(tel));
	fds_before = test_count_fds();
	vvu_dev_tel_stop(tel);
	/* the listening socket and the client's server side are closed */
	TEST_ASSERT_EQ(test_count_fds(), fds_before - 2);
	TEST_ASSERT_EQ(client_recv(fd, buf, sizeof(buf), REPLY_MS), 0);
	TEST_ASSERT(access(path, F_OK) < 0);
	close(fd);
}

/* ---- the device's commands ---- */

static char dev_tel_path[180];

/* The device process, as peer_run_device() plus telemetry as main.c starts it. */
static int
run_device_with_telemetry(void *arg)
{
	const struct peer_dev *p = arg;
	static struct vvu_device dev;
	struct vvu_dev_options o = {
		.vfio_user_path = p->vfu_path, .vhost_user_path = p->vu_path,
		.shm_size = p->shm_size, .num_queues = 4, .virtio_id = 43,
		.verbose = test_verbose() ? atoi(getenv("VVU_TEST_VERBOSE")) : -1,
	};
	struct vvu_dev_loop *l = vvu_dev_loop_create();
	int err = 0;

	signal(SIGPIPE, SIG_IGN);
	if (l == NULL || vvu_dev_init(&dev, &o, l) < 0 || vvu_dev_server_start(&dev) < 0 ||
	    vvu_dev_tel_start_device(&dev, "dev", &err) == NULL)
		return 3;
	for (;;)
		vvu_dev_loop_run_once(l, -1);
}

/* A blocking client of the device process's telemetry. */
static int
dev_client(void)
{
	struct timeval tv = { .tv_sec = 2 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[256];
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ssize_t n;

	strcpy(sa.sun_path, dev_tel_path);
	TEST_ASSERT(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	TEST_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	TEST_ASSERT(n > 0);
	buf[n] = '\0';
	TEST_ASSERT(strstr(buf, "{\"version\":\"dpdk-vvu-device ") == buf, "%s", buf);
	return fd;
}

static const char *
dev_ask(int fd, const char *req)
{
	static char buf[REPLY_MAX];
	ssize_t n;

	TEST_ASSERT(send(fd, req, strlen(req), 0) == (ssize_t)strlen(req));
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	TEST_ASSERT(n > 0, "no reply to %s", req);
	buf[n] = '\0';
	return buf;
}

/* The number after "key": in reply; fails the case if it is not there. */
static uint64_t
field(const char *reply, const char *key)
{
	char pat[80];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(reply, pat);
	TEST_ASSERT(p != NULL, "no %s in %.300s", key, reply);
	p += strlen(pat);
	TEST_ASSERT(*p >= '0' && *p <= '9', "%s is not a number in %.300s", key, reply);
	return strtoull(p, NULL, 10);
}

#define STAT_EQ(reply, key, want) do { \
	uint64_t _v = field(reply, key); \
	TEST_ASSERT(_v == (uint64_t)(want), "%s = %llu, expected %llu", key, \
		    (unsigned long long)_v, (unsigned long long)(want)); \
} while (0)

/* Wait until /vvu/stats shows key == want (the device handles fds in its loop). */
static const char *
wait_stat(int fd, const char *key, uint64_t want)
{
	int64_t end = test_now_ms() + REPLY_MS;
	const char *r;

	do {
		r = dev_ask(fd, "/vvu/stats");
		if (field(r, key) == want)
			return r;
		test_sleep_ms(5);
	} while (test_now_ms() < end);
	STAT_EQ(r, key, want);
	return r;
}

TEST_CASE(device_counts_exactly_what_passed)
{
	struct vhost_user_vring_state st = { 0, PEER_QSZ };
	uint64_t u64 = 0, one = 1, feat = 1ULL << 32;
	int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vhost_user_msg m;
	const char *r;
	int t, fe, i;

	/* peer_dev_start(), with run_device_with_telemetry() */
	snprintf(pd.dir, sizeof(pd.dir), "/tmp/vvu-tel-dev-XXXXXX");
	TEST_ASSERT(mkdtemp(pd.dir) != NULL);
	snprintf(pd.vfu_path, sizeof(pd.vfu_path), "%s/vfu.sock", pd.dir);
	snprintf(pd.vu_path, sizeof(pd.vu_path), "%s/vu.sock", pd.dir);
	snprintf(dev_tel_path, sizeof(dev_tel_path), "%s/dpdk/dev/%s", rundir,
		 VVU_DEV_TEL_SOCKET);
	pd.shm_size = 16u << 20;
	pd.pid = test_spawn(run_device_with_telemetry, &pd, TEST_FD_INHERIT, test_quiet_fd());
	TEST_ASSERT(pd.pid > 0);
	for (i = 0; i < 300 && access(dev_tel_path, F_OK) < 0; i++)
		test_sleep_ms(10);
	TEST_ASSERT(access(dev_tel_path, F_OK) == 0, "no %s", dev_tel_path);
	t = dev_client();

	r = dev_ask(t, "/vvu/info");
	TEST_ASSERT(strstr(r, "\"state\":\"reset\"") != NULL, "%s", r);
	TEST_ASSERT(strstr(r, "\"vfio_user_socket\":\"") != NULL, "%s", r);
	STAT_EQ(r, "driver_connected", 0);
	STAT_EQ(r, "queues", 4);
	TEST_ASSERT_EQ(strcmp(dev_ask(t, "/vvu/stats,x"), "{\"/vvu/stats\":null}"), 0);

	/* a driver brings it up: ready for a front-end */
	peer_drv_up(&drv, &pd);
	r = dev_ask(t, "/vvu/info");
	TEST_ASSERT(strstr(r, "\"state\":\"ready\"") != NULL, "%s", r);
	STAT_EQ(r, "driver_connected", 1);
	STAT_EQ(dev_ask(t, "/vvu/stats"), "driver_connects", 1);

	/* a front-end: five requests (76 bytes) to the driver, two replies back */
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(drv.irq[0], 2000), "no FRONTEND_UP interrupt");
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	peer_fe_send(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	peer_fe_send(fe, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0);
	peer_fe_send(fe, VHOST_USER_SET_FEATURES, &feat, 8, NULL, 0);
	peer_fe_send(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	TEST_ASSERT(peer_wait_used(&drv, true, 5, 2000), "5 requests not on rxq");
	peer_tx_reply(&drv, VHOST_USER_GET_FEATURES, &feat, 8);
	peer_tx_reply(&drv, VHOST_USER_GET_PROTOCOL_FEATURES, &u64, 8);
	for (i = 0; i < 2; i++)
		TEST_ASSERT_EQ(recv(fe, &m, VHOST_USER_HDR_SIZE + 8, MSG_WAITALL),
			       VHOST_USER_HDR_SIZE + 8);
	r = dev_ask(t, "/vvu/stats");
	STAT_EQ(r, "frontend_connects", 1);
	STAT_EQ(r, "frontend_disconnects", 0);
	STAT_EQ(r, "frontend_msgs", 5);
	STAT_EQ(r, "frontend_bytes", 3 * 12 + 2 * 20);
	STAT_EQ(r, "rxq_msgs", 5);
	STAT_EQ(r, "rxq_bytes", 3 * 12 + 2 * 20);
	STAT_EQ(r, "txq_msgs", 2);
	STAT_EQ(r, "txq_bytes", 2 * 20);
	STAT_EQ(r, "frontend_replies", 2);
	STAT_EQ(r, "frontend_replies_dropped", 0);
	STAT_EQ(r, "frontend_errors", 0);
	STAT_EQ(r, "frontend_msgs_dropped", 0);
	/* rxq had buffers: the device never stopped reading the front-end */
	STAT_EQ(r, "frontend_read_pauses", 0);
	r = dev_ask(t, "/vvu/requests");
	STAT_EQ(r, "GET_FEATURES", 1);
	STAT_EQ(r, "SET_OWNER", 1);
	STAT_EQ(r, "GET_PROTOCOL_FEATURES", 1);
	STAT_EQ(r, "SET_FEATURES", 1);
	STAT_EQ(r, "SET_VRING_NUM", 1);
	STAT_EQ(r, "SET_MEM_TABLE", 0);
	TEST_ASSERT(strstr(r, "SET_LOG_BASE") == NULL, "refused requests listed: %s", r);
	r = dev_ask(t, "/vvu/info");
	TEST_ASSERT(strstr(r, "\"state\":\"frontend-connected\"") != NULL, "%s", r);
	STAT_EQ(r, "frontend_connected", 1);

	/* queue 0's call and kick eventfds: one kick, one doorbell, one without a fd */
	peer_fe_send(fe, VHOST_USER_SET_VRING_CALL, &u64, 8, &call, 1);
	peer_fe_send(fe, VHOST_USER_SET_VRING_KICK, &u64, 8, &kick, 1);
	TEST_ASSERT(peer_wait_used(&drv, true, 7, 2000), "vring fds not on rxq");
	TEST_ASSERT(write(kick, &one, sizeof(one)) == sizeof(one));
	wait_stat(t, "kicks", 1);
	peer_wr(&drv, BAR0, VVU_BAR0_DEV_AUX + 0 * VVU_DEV_AUX_MULT, 1, 2);
	TEST_ASSERT(peer_wait_efd(call, 2000), "doorbell 0 did not reach the call fd");
	peer_wr(&drv, BAR0, VVU_BAR0_DEV_AUX + 1 * VVU_DEV_AUX_MULT, 1, 2);
	r = wait_stat(t, "doorbells_dropped", 1);
	STAT_EQ(r, "doorbells", 1);
	STAT_EQ(r, "frontend_msgs", 7);

	/* an unknown request ends the session: one error, one disconnect */
	peer_fe_send(fe, 99, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(fe, 2000), "the device kept the front-end");
	r = wait_stat(t, "frontend_disconnects", 1);
	STAT_EQ(r, "frontend_errors", 1);
	STAT_EQ(r, "frontend_msgs", 7);
	r = dev_ask(t, "/vvu/info");
	TEST_ASSERT(strstr(r, "\"state\":\"driver-ok\"") != NULL, "%s", r);
	STAT_EQ(r, "frontend_connected", 0);
	close(fe);

	/*
	 * A second session, with one rxq buffer left (8 posted, 7 used): of two
	 * requests one reaches the driver, one waits; the front-end leaves and
	 * the waiting one dies with its session, counted as dropped.
	 */
	peer_wr(&drv, BAR0, VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	fe = peer_fe_connect(&pd);
	wait_stat(t, "frontend_connects", 2);
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_used(&drv, true, 8, 2000), "request 8 not on rxq");
	r = wait_stat(t, "frontend_msgs", 9);
	STAT_EQ(r, "rxq_msgs", 8);
	close(fe);
	r = wait_stat(t, "frontend_disconnects", 2);
	STAT_EQ(r, "frontend_msgs_dropped", 1);
	STAT_EQ(r, "frontend_errors", 1);
	STAT_EQ(dev_ask(t, "/vvu/requests"), "GET_FEATURES", 3);

	/* the driver leaves */
	peer_drv_down(&drv);
	r = wait_stat(t, "driver_disconnects", 1);
	STAT_EQ(r, "driver_connects", 1);
	r = dev_ask(t, "/vvu/info");
	TEST_ASSERT(strstr(r, "\"state\":\"reset\"") != NULL, "%s", r);
	STAT_EQ(r, "driver_connected", 0);
	close(t);
	close(call);
	close(kick);
	peer_dev_stop(&pd);
}

/* ---- the options of dpdk-vvu-device (the binary, argv[1]) ---- */

#define ARG(s)		((char *)(uintptr_t)(s))
#define EXIT_MS		3000

struct bin_dev {
	char dir[64];
	char vfu[96];
	char vu[96];
	pid_t pid;
};

/* Start the binary with extra options (NULL-terminated, at most 4). */
static void
bin_start(struct bin_dev *b, char *const extra[])
{
	char *argv[12] = { ARG(device_path), ARG("--vfio-user"), b->vfu, ARG("--vhost-user"),
			   b->vu, ARG("--shm-size"), ARG("16M") };
	unsigned int i, n = 7;

	if (device_path == NULL)
		TEST_SKIP("no dpdk-vvu-device (argv[1] or VVU_DEVICE)");
	snprintf(b->dir, sizeof(b->dir), "/tmp/vvu-tel-bin-XXXXXX");
	TEST_ASSERT(mkdtemp(b->dir) != NULL);
	snprintf(b->vfu, sizeof(b->vfu), "%s/vfu.sock", b->dir);
	snprintf(b->vu, sizeof(b->vu), "%s/vu.sock", b->dir);
	for (i = 0; extra != NULL && extra[i] != NULL && n < 11; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	b->pid = test_spawn_exec(argv, TEST_FD_NULL, test_quiet_fd());
	TEST_ASSERT(b->pid > 0);
	for (i = 0; i < 300 && access(b->vu, F_OK) < 0; i++)
		test_sleep_ms(10);
	TEST_ASSERT(access(b->vu, F_OK) == 0, "the device did not start");
}

/* SIGTERM: a clean exit 0. */
static void
bin_stop(struct bin_dev *b)
{
	int st = test_proc_stop(b->pid, SIGTERM, EXIT_MS);

	b->pid = -1;
	rmdir(b->dir);
	TEST_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

static bool
wait_path(const char *path, bool exists)
{
	int i;

	for (i = 0; i < 300 && (access(path, F_OK) == 0) != exists; i++)
		test_sleep_ms(10);
	return (access(path, F_OK) == 0) == exists;
}

TEST_CASE(bad_telemetry_options_exit_2)
{
	char *const bad_prefix[] = { ARG(device_path), ARG("--vfio-user"), ARG("/tmp/y"),
				     ARG("--vhost-user"), ARG("/tmp/x"), ARG("--file-prefix"),
				     ARG("a/b"), NULL };
	char *const both[] = { ARG(device_path), ARG("--vfio-user"), ARG("/tmp/y"),
			       ARG("--vhost-user"), ARG("/tmp/x"), ARG("--file-prefix"),
			       ARG("p"), ARG("--no-telemetry"), NULL };
	char *const *argvs[] = { bad_prefix, both };
	unsigned int i;

	if (device_path == NULL)
		TEST_SKIP("no dpdk-vvu-device (argv[1] or VVU_DEVICE)");
	for (i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
		pid_t pid = test_spawn_exec(argvs[i], TEST_FD_NULL, TEST_FD_NULL);
		int st = test_proc_stop(pid, 0, EXIT_MS);

		TEST_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
			    "case %u: status %#x", i, st);
	}
}

TEST_CASE(binary_default_prefix_instances_and_clean_exit)
{
	struct bin_dev a, b;
	char v2[160], v2_1[170], dir[128];
	const char *r;
	int fd;

	snprintf(dir, sizeof(dir), "%s/dpdk/%s", rundir, VVU_DEV_TEL_DEFAULT_PREFIX);
	snprintf(v2, sizeof(v2), "%s/%s", dir, VVU_DEV_TEL_SOCKET);
	snprintf(v2_1, sizeof(v2_1), "%s:1", v2);
	bin_start(&a, NULL);
	TEST_ASSERT(wait_path(v2, true), "no %s", v2);
	/* a second device on the default prefix: the next instance */
	bin_start(&b, NULL);
	TEST_ASSERT(wait_path(v2_1, true), "no %s", v2_1);
	snprintf(dev_tel_path, sizeof(dev_tel_path), "%s", v2_1);
	fd = dev_client();
	r = dev_ask(fd, "/vvu/info");
	TEST_ASSERT(strstr(r, b.vu) != NULL, "instance 1 is not the second device: %s", r);
	STAT_EQ(r, "pid", b.pid);
	close(fd);
	bin_stop(&b);
	TEST_ASSERT(wait_path(v2_1, false), "%s left behind", v2_1);
	bin_stop(&a);
	TEST_ASSERT(access(dir, F_OK) < 0, "%s left behind", dir);
}

TEST_CASE(binary_no_telemetry_and_failed_starts)
{
	char *const off[] = { ARG("--no-telemetry"), NULL };
	char *const named[] = { ARG("--file-prefix"), ARG("blocked"), NULL };
	char dir[128], file[128];
	struct bin_dev a;
	pid_t pid;
	int st, fd;

	/* --no-telemetry: no directory at all */
	snprintf(dir, sizeof(dir), "%s/dpdk/%s", rundir, VVU_DEV_TEL_DEFAULT_PREFIX);
	bin_start(&a, off);
	test_sleep_ms(100);
	TEST_ASSERT(access(dir, F_OK) < 0, "%s made with --no-telemetry", dir);
	bin_stop(&a);
	/* a prefix asked for by name that cannot come up: exit 1 */
	snprintf(file, sizeof(file), "%s/dpdk/blocked", rundir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	if (device_path == NULL)
		TEST_SKIP("no dpdk-vvu-device (argv[1] or VVU_DEVICE)");
	{
		char *const argv[] = { ARG(device_path), ARG("--vfio-user"), ARG("/tmp/vvu-tel-y"),
				       ARG("--vhost-user"), ARG("/tmp/vvu-tel-x"), named[0],
				       named[1], NULL };

		pid = test_spawn_exec(argv, TEST_FD_NULL, TEST_FD_NULL);
		st = test_proc_stop(pid, 0, EXIT_MS);
	}
	unlink(file);
	unlink("/tmp/vvu-tel-y");
	unlink("/tmp/vvu-tel-x");
	TEST_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x", st);
	/* the default prefix failing: the device runs without telemetry */
	fd = open(dir, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	bin_start(&a, NULL);
	test_sleep_ms(100);
	TEST_ASSERT(test_proc_alive(a.pid), "the device gave up without its default telemetry");
	bin_stop(&a);
	unlink(dir);
}

TEST_MAIN(tel_setup, tel_teardown,
	TEST_ENTRY(prefix_rules_and_private_directory),
	TEST_ENTRY(connect_message_and_standard_commands),
	TEST_ENTRY(hostile_requests_answered_null_and_never_run),
	TEST_ENTRY(too_many_clients_closed_at_once),
	TEST_ENTRY(client_that_never_reads_is_dropped),
	TEST_ENTRY(instances_stale_and_foreign_names),
	TEST_ENTRY(every_instance_taken_is_eaddrinuse),
	TEST_ENTRY(bad_command_tables_refused),
	TEST_ENTRY(stop_ends_clients_and_removes_the_socket),
	TEST_ENTRY(device_counts_exactly_what_passed),
	TEST_ENTRY(bad_telemetry_options_exit_2),
	TEST_ENTRY(binary_default_prefix_instances_and_clean_exit),
	TEST_ENTRY(binary_no_telemetry_and_failed_starts))
