/* file.read and file.write: io handlers confined to the operator's
 * file-root. The blocking calls run on the worker's helper pool
 * (jobq_offload); the loop only checks the path and packs the answer.
 *
 * Confinement: the path is checked on the loop (no NUL, not absolute, no
 * ".." component), then resolved beneath an fd of the root with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so a symlink that leads out,
 * even one swapped in while the job runs, fails in the kernel (EXDEV)
 * instead of being followed. Where openat2 is missing (ENOSYS, or a seccomp
 * filter answering EPERM) every component is opened with O_NOFOLLOW: no
 * symlink is followed at all. A write goes to a fresh temporary file in the
 * target's directory, is fsynced, renamed over the target and the
 * directory fsynced, so a reader sees the old file or the new one, never
 * a part. */
#include <errno.h>
#include <fcntl.h>
#include <jobq/handler.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "builtin.h"

/* Longest path a job may name (Linux's PATH_MAX less the NUL). */
#define FILE_PATH_MAX 4095
/* openat2 answers EAGAIN when a rename raced its resolution; it is safe to
 * try again, a few times. */
#define OPENAT2_TRIES 8
/* Room for a reason shown to the producer. */
#define FILE_ERR_MAX 512
/* A job's path as echoed in a reason. */
#define FILE_SHOW_MAX 200
#define FILE_TMP_PREFIX ".jobq-tmp-"
/* New files: 0666 less the worker's umask, as any program creates them. */
#define FILE_MODE 0666

/* How the worker resolves paths beneath the root. */
enum resolve_mode { RESOLVE_OPENAT2, RESOLVE_NOFOLLOW };

/* What both handlers share, read at init: the root's fd, the size limit
 * and how to resolve. Written only at init, read by every thread after. */
struct file_conf {
    int root;               /* O_PATH fd of file-root; -1: disabled */
    char why[FILE_ERR_MAX]; /* why disabled */
    uint64_t max_bytes;
    enum resolve_mode mode;
};

static struct file_conf conf = {.root = -1};

enum file_op { OP_READ, OP_WRITE };

/* One attempt's request, owned by the offload from start to done: the
 * helper thread fills the answer fields, the loop reads them in done. */
struct file_req {
    enum file_op op;
    const struct file_conf *conf;
    char *path;                    /* NUL-ended copy */
    char shown[FILE_SHOW_MAX + 8]; /* path as reasons show it */
    char *data; /* write: the content (copy); read: what was read */
    size_t len;
    bool failed;
    jobq_failure kind;
    char err[FILE_ERR_MAX];
};

static void req_free(struct file_req *r)
{
    free(r->path);
    free(r->data);
    free(r);
}

/* The path as it may appear in a reason: printable ASCII, cut short. */
static void show_path(const char *p, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < outlen && i < FILE_SHOW_MAX; i++)
        out[n++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? p[i] : '?';
    if (len > FILE_SHOW_MAX && n + 4 < outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

static void req_fail(struct file_req *r, jobq_failure kind, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
static void req_fail(struct file_req *r, jobq_failure kind, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->failed = true;
    r->kind = kind;
}

/* Errors a later attempt may not see again: the disk, the process's
 * limits, memory. Everything else (missing, refused, not a file) is the
 * job's own doing and permanent. */
static bool transient(int err)
{
    return err == EIO || err == ENOSPC || err == EDQUOT || err == EAGAIN ||
           err == EINTR || err == EMFILE || err == ENFILE || err == ENOMEM ||
           err == EBUSY || err == ETXTBSY;
}

static void fail_errno(struct file_req *r, int err, const char *what)
{
    switch (err) {
    case EXDEV:
        req_fail(r, JOBQ_PERMANENT, "path leaves file-root: %s", r->shown);
        return;
    case ELOOP:
        req_fail(r, JOBQ_PERMANENT,
                 r->conf->mode == RESOLVE_NOFOLLOW
                     ? "path leaves file-root or holds a symlink (not "
                       "followed): %s"
                     : "path holds too many symlinks: %s",
                 r->shown);
        return;
    case ENOENT:
        req_fail(r, JOBQ_PERMANENT, "No such file: %s", r->shown);
        return;
    default:
        req_fail(r, transient(err) ? JOBQ_RETRYABLE : JOBQ_PERMANENT,
                 "%s %s: %s", what, r->shown, strerror(err));
    }
}

static int openat2_beneath(int dir, const char *path, int flags, mode_t mode)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .mode = (flags & O_CREAT) ? mode : 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    for (int i = 0; i < OPENAT2_TRIES; i++) {
        long fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return (int)fd;
    }
    return -1;
}

/* Component by component, no symlink followed anywhere: every directory
 * with O_NOFOLLOW | O_DIRECTORY, the last one with O_NOFOLLOW. */
static int nofollow_beneath(int dir, const char *path, int flags, mode_t mode)
{
    char *copy = strdup(path);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    int cur = dup(dir);
    char *save = NULL;
    char *comp = strtok_r(copy, "/", &save);
    while (cur >= 0 && comp) {
        char *next = strtok_r(NULL, "/", &save);
        int fd;
        if (strcmp(comp, ".") == 0)
            fd = next ? dup(cur)
                      : openat(cur, ".", flags | O_CLOEXEC | O_NOFOLLOW, mode);
        else if (next)
            fd = openat(cur, comp,
                        O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        else
            fd = openat(cur, comp, flags | O_CLOEXEC | O_NOFOLLOW, mode);
        int saved = errno;
        close(cur);
        errno = saved;
        cur = fd;
        comp = next;
    }
    free(copy);
    /* O_NOFOLLOW | O_DIRECTORY on a symlink answers ENOTDIR: say ELOOP so
     * the reason names the symlink. */
    if (cur < 0 && errno == ENOTDIR) {
        errno = ELOOP;
    }
    return cur;
}

static int open_beneath(const struct file_conf *c, const char *path, int flags,
                        mode_t mode)
{
    return c->mode == RESOLVE_OPENAT2
               ? openat2_beneath(c->root, path, flags, mode)
               : nofollow_beneath(c->root, path, flags, mode);
}

/* Helper thread. */
static void do_read(struct file_req *r)
{
    int fd =
        open_beneath(r->conf, r->path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return fail_errno(r, errno, "cannot open");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fail_errno(r, errno, "cannot stat");
        close(fd);
        return;
    }
    /* A FIFO or a device could block a helper thread for ever. */
    if (!S_ISREG(st.st_mode)) {
        req_fail(r, JOBQ_PERMANENT, "not a regular file: %s", r->shown);
        close(fd);
        return;
    }
    uint64_t max = r->conf->max_bytes;
    if ((uint64_t)st.st_size > max) {
        req_fail(r, JOBQ_PERMANENT,
                 "%s is %llu bytes, more than file-max-bytes (%llu)", r->shown,
                 (unsigned long long)st.st_size, (unsigned long long)max);
        close(fd);
        return;
    }
    /* One byte more than the limit tells a file that grew meanwhile. */
    size_t cap = (size_t)st.st_size + 1;
    r->data = malloc(cap);
    if (!r->data) {
        req_fail(r, JOBQ_RETRYABLE, "%s", jobq_strerror(JOBQ_ENOMEM));
        close(fd);
        return;
    }
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            if (cap > max) {
                req_fail(r, JOBQ_PERMANENT,
                         "%s grew past file-max-bytes (%llu) while read",
                         r->shown, (unsigned long long)max);
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? (size_t)max + 1 : cap * 2;
            char *nd = realloc(r->data, ncap);
            if (!nd) {
                req_fail(r, JOBQ_RETRYABLE, "%s", jobq_strerror(JOBQ_ENOMEM));
                break;
            }
            r->data = nd;
            cap = ncap;
        }
        ssize_t n = read(fd, r->data + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail_errno(r, errno, "cannot read");
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    r->len = got;
    close(fd);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A fresh name in dir, created with O_EXCL: nobody else's file, and never
 * a symlink followed. */
static int make_temp(int dir, char *name, size_t len)
{
    for (int i = 0; i < OPENAT2_TRIES; i++) {
        unsigned char rnd[8];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return -1;
        int n = snprintf(name, len, "%s", FILE_TMP_PREFIX);
        for (size_t k = 0; k < sizeof(rnd); k++)
            n += snprintf(name + n, len - (size_t)n, "%02x", rnd[k]);
        int fd = openat(dir, name,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        FILE_MODE);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Helper thread. */
static void do_write(struct file_req *r)
{
    /* The directory part is resolved beneath the root once; everything
     * after is one name relative to that fd, nothing more to follow. */
    char *slash = strrchr(r->path, '/');
    const char *base = slash ? slash + 1 : r->path;
    int dir;
    if (slash) {
        *slash = 0;
        dir = open_beneath(r->conf, r->path, O_RDONLY | O_DIRECTORY, 0);
        *slash = '/';
    } else {
        dir = openat(r->conf->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dir < 0)
        return fail_errno(r, errno, "cannot open the directory of");
    char tmp[sizeof(FILE_TMP_PREFIX) + 32];
    int fd = make_temp(dir, tmp, sizeof(tmp));
    if (fd < 0) {
        fail_errno(r, errno, "cannot create a temporary file beside");
        close(dir);
        return;
    }
    const char *step = "cannot write";
    int rc = write_all(fd, r->data, r->len);
    if (rc == 0 && (step = "cannot fsync", fsync(fd)) != 0)
        rc = -1;
    int err = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        err = errno;
        step = "cannot close";
    }
    if (rc == 0 && renameat(dir, tmp, dir, base) != 0) {
        rc = -1;
        err = errno;
        step = "cannot rename onto";
    }
    if (rc != 0) {
        unlinkat(dir, tmp, 0);
        fail_errno(r, err, step);
        close(dir);
        return;
    }
    /* The rename is durable only once the directory is. */
    if (fsync(dir) != 0)
        fail_errno(r, errno, "cannot fsync the directory of");
    close(dir);
}

static void file_run(void *arg)
{
    struct file_req *r = arg;
    if (r->op == OP_READ)
        do_read(r);
    else
        do_write(r);
}

/* Back on the loop; ctx NULL when the attempt ended meanwhile. */
static void file_done(jobq_ctx *ctx, void *arg)
{
    struct file_req *r = arg;
    if (!ctx) {
        req_free(r);
        return;
    }
    jobq_set_state(ctx, NULL);
    if (r->failed) {
        jobq_fail(ctx, r->kind, "%s", r->err);
    } else {
        msgpack_packer *pk = jobq_packer(ctx);
        msgpack_pack_map(pk, 1);
        if (r->op == OP_READ) {
            jobq_pack_cstr(pk, "content");
            msgpack_pack_bin(pk, r->len);
            msgpack_pack_bin_body(pk, r->data, r->len);
        } else {
            jobq_pack_cstr(pk, "bytes");
            msgpack_pack_uint64(pk, r->len);
        }
    }
    req_free(r);
    jobq_done(ctx);
}

static void finish_failed(jobq_ctx *ctx, jobq_failure kind, const char *msg)
{
    jobq_fail(ctx, kind, "%s", msg);
    jobq_done(ctx);
}

/* The path checks that need no file system: a reason, or NULL. */
static const char *check_path(const char *p, size_t len, enum file_op op)
{
    if (len == 0)
        return "path is empty";
    if (len > FILE_PATH_MAX)
        return "path is longer than 4095 bytes";
    if (memchr(p, 0, len))
        return "path contains a NUL byte";
    if (p[0] == '/')
        return "absolute paths are refused: path is relative to file-root";
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
            return "path contains a '..' component";
        i = j + 1;
    }
    if (op == OP_WRITE &&
        (p[len - 1] == '/' || (len == 1 && p[0] == '.') ||
         (len >= 2 && p[len - 1] == '.' && p[len - 2] == '/')))
        return "path names a directory, not a file";
    return NULL;
}

static void file_start(jobq_ctx *ctx, enum file_op op)
{
    if (conf.root < 0)
        return finish_failed(ctx, JOBQ_PERMANENT, conf.why);
    const char *path;
    size_t plen;
    int rc = jobq_arg_str(ctx, "path", &path, &plen);
    if (rc != JOBQ_OK)
        return finish_failed(ctx, JOBQ_PERMANENT,
                             rc == JOBQ_ENOENT ? "Missing required field: path"
                                               : "path must be a string");
    const char *bad = check_path(path, plen, op);
    if (bad)
        return finish_failed(ctx, JOBQ_PERMANENT, bad);
    const msgpack_object *content = NULL;
    if (op == OP_WRITE) {
        content = jobq_map_get(jobq_args(ctx), "content");
        if (!content || content->type == MSGPACK_OBJECT_NIL)
            return finish_failed(ctx, JOBQ_PERMANENT,
                                 "Missing required field: content");
        if (content->type != MSGPACK_OBJECT_BIN &&
            content->type != MSGPACK_OBJECT_STR)
            return finish_failed(ctx, JOBQ_PERMANENT,
                                 "content must be bytes or a string");
        if (content->via.bin.size > conf.max_bytes)
            return finish_failed(ctx, JOBQ_PERMANENT,
                                 "content is larger than file-max-bytes");
    }
    /* Copies: the job's bytes may be gone before the helper thread is. */
    struct file_req *r = calloc(1, sizeof(*r));
    if (r) {
        r->op = op;
        r->conf = &conf;
        r->path = strndup(path, plen);
        show_path(path, plen, r->shown, sizeof(r->shown));
        if (content) {
            r->len = content->via.bin.size;
            r->data = malloc(r->len ? r->len : 1);
            if (r->data)
                memcpy(r->data, content->via.bin.ptr, r->len);
        }
    }
    if (!r || !r->path || (content && !r->data)) {
        if (r)
            req_free(r);
        return finish_failed(ctx, JOBQ_RETRYABLE, jobq_strerror(JOBQ_ENOMEM));
    }
    rc = jobq_offload(ctx, file_run, file_done, r);
    if (rc != JOBQ_OK) {
        req_free(r);
        char msg[128];
        snprintf(msg, sizeof(msg), "cannot reach the file helper pool: %s",
                 jobq_strerror(rc));
        return finish_failed(ctx, JOBQ_RETRYABLE, msg);
    }
    jobq_set_state(ctx, r);
}

static void read_start(jobq_ctx *ctx)
{
    file_start(ctx, OP_READ);
}

static void write_start(jobq_ctx *ctx)
{
    file_start(ctx, OP_WRITE);
}

/* The request belongs to the offload until it comes back: the worker
 * answers it with ctx NULL, and file_done frees it then. */
static void file_cancel(jobq_ctx *ctx)
{
    jobq_set_state(ctx, NULL);
}

/* Opens the root and picks the resolver: openat2 unless the kernel lacks
 * it or the handler setting [handler.file] resolve = nofollow asks for
 * the stricter walk. */
static void configure(jobq_registry *reg)
{
    if (conf.root >= 0)
        close(conf.root);
    conf.root = -1;
    const char *max = jobq_worker_setting(reg, "file-max-bytes");
    conf.max_bytes = max ? strtoull(max, NULL, 10) : 0;
    if (!conf.max_bytes)
        conf.max_bytes = 8388608;
    const char *root = jobq_worker_setting(reg, "file-root");
    if (!root) {
        snprintf(conf.why, sizeof(conf.why),
                 "file-root is not set: file.read and file.write are "
                 "disabled");
        return;
    }
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(conf.why, sizeof(conf.why), "file-root %.200s: %s", root,
                 strerror(errno));
        return;
    }
    const char *want = jobq_setting(reg, "file", "resolve");
    conf.mode = RESOLVE_OPENAT2;
    if (want && strcmp(want, "nofollow") == 0) {
        conf.mode = RESOLVE_NOFOLLOW;
    } else {
        int probe = openat2_beneath(fd, ".", O_PATH, 0);
        if (probe >= 0)
            close(probe);
        else if (errno == ENOSYS || errno == EPERM)
            conf.mode = RESOLVE_NOFOLLOW;
    }
    conf.root = fd;
}

int builtin_file_init(jobq_registry *reg, int api_version)
{
    static const jobq_handler hs[] = {{.type = "file.read",
                                       .cls = JOBQ_CLASS_IO,
                                       .start = read_start,
                                       .cancel = file_cancel},
                                      {.type = "file.write",
                                       .cls = JOBQ_CLASS_IO,
                                       .start = write_start,
                                       .cancel = file_cancel}};
    (void)api_version;
    configure(reg);
    return builtin_register_all(reg, hs, sizeof(hs) / sizeof(hs[0]));
}
