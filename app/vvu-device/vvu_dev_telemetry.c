/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The telemetry server (protocol and limits: vvu_dev_telemetry.h).
 *
 * Everything runs in the device's loop: the listening socket and each
 * client are loop watches, every socket is non-blocking, and a command runs
 * to completion between two events, so it reads the device without locks.
 *
 * Taking a socket name. Two devices started with the same prefix must not
 * take the same name, and a socket left by a killed device must not block
 * the name forever. Per instance name: bind; if the name exists, a connect
 * tells a live server (connect succeeds, or its backlog is full) from a
 * stale socket file (refused), which is replaced; a file that is not a
 * socket is never removed (the next name is tried). Between a rival's bind
 * and its listen a connect is refused too, so the whole probe runs under
 * an flock() of the directory, which every dpdk-vvu-device takes.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vvu_device.h"
#include "vvu_dev_telemetry.h"

/* How long start waits for another device's probe to let go of the flock. */
#define VVU_TEL_LOCK_TRIES	100
#define VVU_TEL_LOCK_WAIT_US	10000

struct vvu_tel_client {
	struct vvu_dev_tel *tel;
	int fd;			/* -1: free slot */
};

struct vvu_dev_tel {
	struct vvu_dev_loop *loop;
	struct vvu_dev_tel_params p;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	struct vvu_tel_client clients[VVU_DEV_TEL_MAX_CLIENTS];
	unsigned int nb_clients;
	/* replies are built here: one at a time, the loop is single-threaded */
	char out[VVU_DEV_TEL_MAX_OUTPUT];
};

/* ---- the JSON writer ---- */

static void
put(struct vvu_dev_tel_out *o, const char *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
puts_(struct vvu_dev_tel_out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A JSON string: quotes, backslash, control and non-ASCII bytes escaped. */
static void
put_string(struct vvu_dev_tel_out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };

		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			/* bytes, not characters: the reply stays valid JSON */
			put(o, esc, sizeof(esc));
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

/* The separator and key before a value at the current level. */
static void
value_start(struct vvu_dev_tel_out *o, const char *key)
{
	bool in_dict = o->depth > 0 && o->closer[o->depth] == '}';

	/*
	 * A bug in a command (a second value at the top, a key outside a dict
	 * or none inside one) makes the reply null, never invalid JSON.
	 */
	if ((o->depth == 0 && o->need_comma[0]) || (key != NULL) != in_dict)
		o->overflow = true;
	if (o->need_comma[o->depth])
		put(o, ",", 1);
	o->need_comma[o->depth] = true;
	if (key != NULL) {
		put_string(o, key, strlen(key));
		put(o, ":", 1);
	}
}

static void
open_(struct vvu_dev_tel_out *o, const char *key, char open, char close)
{
	value_start(o, key);
	if (o->depth >= VVU_DEV_TEL_MAX_DEPTH) {
		o->overflow = true;	/* a bug in a command: the reply becomes null */
		return;
	}
	put(o, &open, 1);
	o->depth++;
	o->need_comma[o->depth] = false;
	o->closer[o->depth] = close;
}

void
vvu_dev_tel_dict_begin(struct vvu_dev_tel_out *o, const char *key)
{
	open_(o, key, '{', '}');
}

void
vvu_dev_tel_array_begin(struct vvu_dev_tel_out *o, const char *key)
{
	open_(o, key, '[', ']');
}

void
vvu_dev_tel_end(struct vvu_dev_tel_out *o)
{
	if (o->depth == 0) {
		o->overflow = true;
		return;
	}
	put(o, &o->closer[o->depth], 1);
	o->depth--;
}

void
vvu_dev_tel_u64(struct vvu_dev_tel_out *o, const char *key, uint64_t v)
{
	char num[24];

	value_start(o, key);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	puts_(o, num);
}

void
vvu_dev_tel_i64(struct vvu_dev_tel_out *o, const char *key, int64_t v)
{
	char num[24];

	value_start(o, key);
	snprintf(num, sizeof(num), "%lld", (long long)v);
	puts_(o, num);
}

void
vvu_dev_tel_str(struct vvu_dev_tel_out *o, const char *key, const char *s)
{
	value_start(o, key);
	if (s == NULL)
		puts_(o, "null");
	else
		put_string(o, s, strlen(s));
}

void
vvu_dev_tel_null(struct vvu_dev_tel_out *o, const char *key)
{
	value_start(o, key);
	puts_(o, "null");
}

/* ---- the socket's directory and name ---- */

bool
vvu_dev_tel_prefix_ok(const char *prefix)
{
	size_t i, n;

	if (prefix == NULL)
		return false;
	n = strlen(prefix);
	if (n == 0 || n > VVU_DEV_TEL_MAX_PREFIX || strcmp(prefix, ".") == 0 ||
	    strcmp(prefix, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = prefix[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

/* EAL's and dpdk-telemetry.py's runtime directory. */
static const char *
runtime_base(void)
{
	const char *d = getenv("RUNTIME_DIRECTORY");	/* systemd's RuntimeDirectory= */

	if (d != NULL && d[0] != '\0')
		return d;
	if (getuid() == 0)
		return "/var/run";
	d = getenv("XDG_RUNTIME_DIR");
	return d != NULL && d[0] != '\0' ? d : "/tmp";
}

static int
mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int
vvu_dev_tel_dir(const char *prefix, char *buf, size_t len)
{
	const char *base = runtime_base();
	int n, ret;

	if (!vvu_dev_tel_prefix_ok(prefix))
		return -EINVAL;
	n = snprintf(buf, len, "%s/dpdk", base);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	ret = mkdir_private(buf);
	if (ret < 0)
		return ret;
	n = snprintf(buf, len, "%s/dpdk/%s", base, prefix);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return mkdir_private(buf);
}

/* A listening SEQPACKET socket at path, or negative errno. */
static int
bind_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, VVU_DEV_TEL_MAX_CLIENTS) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Whether the socket file at path has no server behind it: a connect is
 * refused. A live server accepts (or its backlog is full: EAGAIN); another
 * kind of socket answers EPROTOTYPE; neither is ours to remove.
 */
static bool
stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool stale;
	int fd;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	strcpy(sa.sun_path, path);	/* bind_listen checked the length */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	stale = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

/* Listen on path, replacing a stale socket; -EADDRINUSE when taken. */
static int
take_name(const char *path)
{
	int fd = bind_listen(path);

	if (fd != -EADDRINUSE)
		return fd;
	if (!stale_socket(path))
		return -EADDRINUSE;
	unlink(path);
	return bind_listen(path);
}

/* ---- clients ---- */

static void
client_drop(struct vvu_tel_client *c)
{
	struct vvu_dev_tel *tel = c->tel;

	if (c->fd < 0)
		return;
	vvu_dev_loop_del(tel->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	tel->nb_clients--;
}

/* One whole reply, without waiting: a full socket means a client that does not read. */
static int
send_reply(int fd, const struct vvu_dev_tel_out *o)
{
	ssize_t n = send(fd, o->buf, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0)
		return -errno;
	return (size_t)n == o->len ? 0 : -EMSGSIZE;
}

static int
cmd_list(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o);
static int
cmd_info(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o);
static int
cmd_help(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o);

static const struct vvu_dev_tel_cmd builtin_cmds[] = {
	{ "/", cmd_list, "Returns the list of commands. Takes no parameters" },
	{ "/info", cmd_info, "Returns the server's version, pid and largest reply. "
	  "Takes no parameters" },
	{ "/help", cmd_help, "Returns the help text of a command. Parameter: the command" },
};

#define NB_BUILTINS	(sizeof(builtin_cmds) / sizeof(builtin_cmds[0]))

/* The command called name, and whether it is built in; NULL if none. */
static const struct vvu_dev_tel_cmd *
find_cmd(const struct vvu_dev_tel *tel, const char *name, bool *builtin)
{
	unsigned int i;

	for (i = 0; i < NB_BUILTINS; i++) {
		if (strcmp(builtin_cmds[i].name, name) == 0) {
			*builtin = true;
			return &builtin_cmds[i];
		}
	}
	for (i = 0; i < tel->p.nb_cmds; i++) {
		if (strcmp(tel->p.cmds[i].name, name) == 0) {
			*builtin = false;
			return &tel->p.cmds[i];
		}
	}
	return NULL;
}

static int
cmd_list(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	const struct vvu_dev_tel *tel = ctx;
	unsigned int i;

	vvu_dev_tel_array_begin(o, NULL);
	for (i = 0; i < NB_BUILTINS; i++)
		vvu_dev_tel_str(o, NULL, builtin_cmds[i].name);
	for (i = 0; i < tel->p.nb_cmds; i++)
		vvu_dev_tel_str(o, NULL, tel->p.cmds[i].name);
	vvu_dev_tel_end(o);
	return 0;
}

static void
info_dict(const struct vvu_dev_tel *tel, struct vvu_dev_tel_out *o)
{
	vvu_dev_tel_dict_begin(o, NULL);
	vvu_dev_tel_str(o, "version", tel->p.version);
	vvu_dev_tel_u64(o, "pid", (uint64_t)getpid());
	vvu_dev_tel_u64(o, "max_output_len", VVU_DEV_TEL_MAX_OUTPUT);
	vvu_dev_tel_end(o);
}

static int
cmd_info(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	info_dict(ctx, o);
	return 0;
}

static int
cmd_help(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	const struct vvu_dev_tel_cmd *c;
	bool builtin;

	if (params == NULL)
		return -EINVAL;
	c = find_cmd(ctx, params, &builtin);
	if (c == NULL)
		return -ENOENT;
	vvu_dev_tel_dict_begin(o, NULL);
	vvu_dev_tel_str(o, c->name, c->help);
	vvu_dev_tel_end(o);
	return 0;
}

/*
 * Answer one request of n bytes (truncated: it was longer than the buffer).
 * 0, or negative errno when the client must be dropped.
 */
static int
handle_request(struct vvu_dev_tel *tel, int fd, char *req, size_t n, bool truncated)
{
	struct vvu_dev_tel_out o = { .buf = tel->out, .cap = sizeof(tel->out) };
	const struct vvu_dev_tel_cmd *c = NULL;
	const char *params = NULL;
	size_t cmd_len, mark;
	bool builtin = false;
	char *comma;
	int ret = -ENOENT;

	/* like a C string: an embedded NUL ends the request */
	req[n] = '\0';
	comma = strchr(req, ',');
	if (comma != NULL) {
		*comma = '\0';
		params = comma + 1;
	}
	cmd_len = strlen(req);
	if (!truncated && cmd_len < VVU_DEV_TEL_MAX_CMD)
		c = find_cmd(tel, req, &builtin);
	put(&o, "{", 1);
	put_string(&o, req, cmd_len < VVU_DEV_TEL_MAX_CMD ? cmd_len : VVU_DEV_TEL_MAX_CMD);
	put(&o, ":", 1);
	mark = o.len;
	/* the closing brace always fits: the whole reply is at most MAX_OUTPUT */
	o.cap--;
	if (c != NULL)
		ret = c->fn(builtin ? (void *)tel : tel->p.ctx, req, params, &o);
	o.cap++;
	/* exactly one complete value, or null */
	if (ret < 0 || o.overflow || o.depth != 0 || !o.need_comma[0]) {
		if (c != NULL && ret >= 0)
			vvu_dev_log(tel->p.log, VVU_ERR, "telemetry: %s: reply larger than "
				    "%d bytes or malformed, answered null", c->name,
				    VVU_DEV_TEL_MAX_OUTPUT);
		o.len = mark;
		o.overflow = false;
		puts_(&o, "null");
	}
	put(&o, "}", 1);
	return send_reply(fd, &o);
}

static void
client_ready(void *arg, uint32_t events)
{
	struct vvu_tel_client *c = arg;
	char req[VVU_DEV_TEL_MAX_REQUEST + 1];
	int budget = VVU_DEV_TEL_BUDGET;

	while (budget-- > 0 && c->fd >= 0) {
		struct iovec iov = { .iov_base = req, .iov_len = VVU_DEV_TEL_MAX_REQUEST };
		/* no control buffer: fds a client sends are closed by the kernel */
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
		int ret;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* EOF (an empty message too: nothing to answer) or an error */
			client_drop(c);
			return;
		}
		ret = handle_request(c->tel, c->fd, req, (size_t)n,
				     (mh.msg_flags & MSG_TRUNC) != 0);
		if (ret < 0) {
			vvu_dev_log(c->tel->p.log, VVU_DEBUG, "telemetry: client dropped: %s",
				    ret == -EAGAIN ? "it does not read its replies" :
				    strerror(-ret));
			client_drop(c);
			return;
		}
	}
}

static void
accept_ready(void *arg, uint32_t events)
{
	struct vvu_dev_tel *tel = arg;
	char hello[128];
	struct vvu_dev_tel_out o = { .buf = hello, .cap = sizeof(hello) };
	/* a burst of connections is taken a slice at a time, like requests */
	int budget = 2 * VVU_DEV_TEL_MAX_CLIENTS;
	unsigned int i;

	info_dict(tel, &o);
	while (budget-- > 0) {
		struct vvu_tel_client *c = NULL;
		int fd = accept4(tel->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS && c == NULL; i++)
			if (tel->clients[i].fd < 0)
				c = &tel->clients[i];
		if (c == NULL) {
			vvu_dev_log(tel->p.log, VVU_INFO, "telemetry: %d clients already, "
				    "closing a new one", VVU_DEV_TEL_MAX_CLIENTS);
			close(fd);
			continue;
		}
		if (o.overflow || send_reply(fd, &o) < 0 ||
		    vvu_dev_loop_add(tel->loop, fd, EPOLLIN, client_ready, c) < 0) {
			close(fd);
			continue;
		}
		c->fd = fd;
		tel->nb_clients++;
	}
}

/* ---- the server ---- */

static int
check_cmds(const struct vvu_dev_tel_params *p)
{
	unsigned int i, j;

	for (i = 0; i < p->nb_cmds; i++) {
		const struct vvu_dev_tel_cmd *c = &p->cmds[i];

		if (c->name == NULL || c->name[0] != '/' || c->fn == NULL ||
		    strlen(c->name) >= VVU_DEV_TEL_MAX_CMD || strchr(c->name, ',') != NULL ||
		    c->help == NULL)
			return -EINVAL;
		for (j = 0; j < NB_BUILTINS; j++)
			if (strcmp(builtin_cmds[j].name, c->name) == 0)
				return -EEXIST;
		for (j = 0; j < i; j++)
			if (strcmp(p->cmds[j].name, c->name) == 0)
				return -EEXIST;
	}
	return 0;
}

/* flock(dfd) without waiting for ever on a device stopped while holding it. */
static int
lock_dir(int dfd)
{
	int i;

	for (i = 0; i < VVU_TEL_LOCK_TRIES; i++) {
		if (flock(dfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		usleep(VVU_TEL_LOCK_WAIT_US);
	}
	return -ETIMEDOUT;
}

/*
 * Open and lock dir, (re)creating it: a server that stops removes the
 * directory when it is empty, under the same lock, so a directory found
 * removed once locked is made again. The locked fd, or negative errno.
 */
static int
open_locked_dir(const char *dir)
{
	struct stat st;
	int attempt, dfd, ret;

	for (attempt = 0; attempt < 3; attempt++) {
		ret = mkdir_private(dir);
		if (ret < 0)
			return ret;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		ret = lock_dir(dfd);
		if (ret < 0) {
			close(dfd);
			return ret;
		}
		if (fstat(dfd, &st) == 0 && st.st_nlink > 0)
			return dfd;
		close(dfd);
	}
	return -ENOENT;
}

/* Listen on the first free instance name in tel->dir. */
static int
listen_first_free(struct vvu_dev_tel *tel)
{
	int dfd, fd = -EADDRINUSE, i;

	dfd = open_locked_dir(tel->dir);
	if (dfd < 0)
		return dfd;
	for (i = 0; i < VVU_DEV_TEL_MAX_INSTANCES && fd == -EADDRINUSE; i++) {
		int n = i == 0 ?
			snprintf(tel->path, sizeof(tel->path), "%s/%s", tel->dir,
				 VVU_DEV_TEL_SOCKET) :
			snprintf(tel->path, sizeof(tel->path), "%s/%s:%d", tel->dir,
				 VVU_DEV_TEL_SOCKET, i);

		if (n < 0 || (size_t)n >= sizeof(tel->path))
			fd = -ENAMETOOLONG;
		else
			fd = take_name(tel->path);
	}
	/* closing the fd releases the lock: our socket listens by now */
	close(dfd);
	if (fd < 0)
		tel->path[0] = '\0';
	return fd;
}

struct vvu_dev_tel *
vvu_dev_tel_start(struct vvu_dev_loop *loop, const struct vvu_dev_tel_params *p, int *err)
{
	struct vvu_dev_tel *tel;
	unsigned int i;
	int ret;

	if (loop == NULL || p == NULL || p->dir == NULL || p->version == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	ret = check_cmds(p);
	if (ret < 0) {
		*err = ret;
		return NULL;
	}
	tel = calloc(1, sizeof(*tel));
	if (tel == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	tel->loop = loop;
	tel->p = *p;
	for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS; i++) {
		tel->clients[i].tel = tel;
		tel->clients[i].fd = -1;
	}
	if (strlen(p->dir) >= sizeof(tel->dir)) {
		free(tel);
		*err = -ENAMETOOLONG;
		return NULL;
	}
	strcpy(tel->dir, p->dir);
	tel->p.dir = tel->dir;
	tel->listen_fd = listen_first_free(tel);
	if (tel->listen_fd < 0) {
		*err = tel->listen_fd;
		free(tel);
		return NULL;
	}
	ret = vvu_dev_loop_add(loop, tel->listen_fd, EPOLLIN, accept_ready, tel);
	if (ret < 0) {
		*err = ret;
		close(tel->listen_fd);
		unlink(tel->path);
		free(tel);
		return NULL;
	}
	return tel;
}

void
vvu_dev_tel_stop(struct vvu_dev_tel *tel)
{
	unsigned int i;
	int dfd;

	if (tel == NULL)
		return;
	for (i = 0; i < VVU_DEV_TEL_MAX_CLIENTS; i++)
		client_drop(&tel->clients[i]);
	vvu_dev_loop_del(tel->loop, tel->listen_fd);
	close(tel->listen_fd);
	/* under the lock, so a server starting now sees the directory gone */
	dfd = open(tel->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && lock_dir(dfd) < 0)
		vvu_dev_log(tel->p.log, VVU_ERR, "telemetry: %s stays locked", tel->dir);
	unlink(tel->path);
	/* fails while another instance or a DPDK process uses the directory */
	rmdir(tel->dir);
	if (dfd >= 0)
		close(dfd);
	free(tel);
}

const char *
vvu_dev_tel_path(const struct vvu_dev_tel *tel)
{
	return tel->path;
}

unsigned int
vvu_dev_tel_clients(const struct vvu_dev_tel *tel)
{
	return tel->nb_clients;
}
