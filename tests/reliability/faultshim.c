/* faultshim: an LD_PRELOAD library that counts, fails or crashes at the Nth write, fsync or rename.
 *
 * Built by the tests (tests/reliability/shim.py) with `cc -shared -fPIC`; never shipped. It wraps the libc
 * entry points that Python's os module *and* SQLite (inside the sqlcipher3 extension) call, so the crash
 * and fault points include SQLite's own WAL writes and syncs, which a Python-level hook cannot see.
 *
 * Environment (read once, at load):
 *   FAULT_OP       write | fsync | rename       the kind of call to act on (unset: count only)
 *   FAULT_NTH      N (1-based)                  act on the Nth call of that kind
 *   FAULT_ERRNO    ENOSPC | EIO | EROFS | EFBIG | a number | SIGKILL
 *                  fail the call with that errno, or SIGKILL the process (write and rename: before the
 *                  call takes effect; fsync: right after the data became durable)
 *   FAULT_PERSIST  1: every call of that kind from the Nth on fails (a full or dead device)
 *   FAULT_PATH     only calls on files whose path starts with this prefix count (optional)
 *   FAULT_COUNT_FILE  at exit, one line "write=W fsync=F rename=R injected=I" is written there
 *   FAULT_TRACE    one line per counted call "KIND N CALL PATH" is appended there (counting runs)
 *
 * What counts: "write" = write, pwrite, pwrite64, writev, pwritev on a regular file (not pipes, ttys,
 * sockets; never fds 0-2: stdout and stderr are not fault points); "fsync" = fsync, fdatasync (regular files and
 * directories) and syncfs; "rename" = rename, renameat, renameat2. Only the process started with the shim
 * counts: it records its pid in FAULT_OWNER, and a forked child that inherits LD_PRELOAD stays inactive.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_WRITE, K_FSYNC, K_RENAME, K_COUNT };
static const char *kind_names[K_COUNT] = {"write", "fsync", "rename"};

static atomic_long counters[K_COUNT];
static atomic_long injected;
static int target_kind = -1;
static long target_nth = 0;
static int target_errno = 0; /* 0 with target_kill = 1: SIGKILL */
static int target_kill = 0;
static int persist = 0;
static char path_prefix[4096];
static size_t path_prefix_len = 0;
static char count_file[4096];
static int trace_fd = -1;
static int inactive = 0;

static int parse_errno(const char *text) {
    if (!text || !*text) return EIO;
    if (!strcmp(text, "ENOSPC")) return ENOSPC;
    if (!strcmp(text, "EIO")) return EIO;
    if (!strcmp(text, "EROFS")) return EROFS;
    if (!strcmp(text, "EFBIG")) return EFBIG;
    if (!strcmp(text, "EDQUOT")) return EDQUOT;
    if (!strcmp(text, "EPERM")) return EPERM;
    if (!strcmp(text, "EACCES")) return EACCES;
    return atoi(text);
}

__attribute__((constructor)) static void faultshim_init(void) {
    const char *op = getenv("FAULT_OP");
    if (op) {
        for (int k = 0; k < K_COUNT; k++)
            if (!strcmp(op, kind_names[k])) target_kind = k;
    }
    const char *nth = getenv("FAULT_NTH");
    target_nth = nth ? atol(nth) : 0;
    const char *err = getenv("FAULT_ERRNO");
    if (err && !strcmp(err, "SIGKILL"))
        target_kill = 1;
    else
        target_errno = parse_errno(err);
    const char *p = getenv("FAULT_PERSIST");
    persist = p && !strcmp(p, "1");
    const char *prefix = getenv("FAULT_PATH");
    if (prefix && *prefix) {
        strncpy(path_prefix, prefix, sizeof path_prefix - 1);
        path_prefix_len = strlen(path_prefix);
    }
    const char *cf = getenv("FAULT_COUNT_FILE");
    if (cf) strncpy(count_file, cf, sizeof count_file - 1);
    /* Only the process the test started counts (an exec keeps its pid: a wrapper script that execs Python is
     * the same process); a forked child of it inherits LD_PRELOAD but stays inactive. */
    const char *owner = getenv("FAULT_OWNER");
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (owner && strcmp(owner, pid) != 0) {
        inactive = 1;
        return;
    }
    setenv("FAULT_OWNER", pid, 1);
    const char *trace = getenv("FAULT_TRACE");
    if (trace && *trace) trace_fd = (int)syscall(SYS_openat, AT_FDCWD, trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void raw_write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        long n = syscall(SYS_write, fd, buf, len);
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

__attribute__((destructor)) static void faultshim_fini(void) {
    if (inactive || !count_file[0]) return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    char line[256];
    int n = snprintf(line, sizeof line, "write=%ld fsync=%ld rename=%ld injected=%ld\n", atomic_load(&counters[K_WRITE]),
                     atomic_load(&counters[K_FSYNC]), atomic_load(&counters[K_RENAME]), atomic_load(&injected));
    raw_write_all(fd, line, (size_t)n);
    syscall(SYS_close, fd);
}

static void fd_path(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

static void at_path(int dirfd, const char *name, char *out, size_t size) {
    if (name[0] == '/' || dirfd == AT_FDCWD) {
        if (name[0] == '/') {
            snprintf(out, size, "%s", name);
        } else {
            char cwd[2048];
            if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
            snprintf(out, size, "%s/%s", cwd, name);
        }
        return;
    }
    char dir[2048];
    fd_path(dirfd, dir, sizeof dir);
    snprintf(out, size, "%s/%s", dir, name);
}

static int matches_prefix(const char *path) {
    return path_prefix_len == 0 || strncmp(path, path_prefix, path_prefix_len) == 0;
}

enum action { A_NONE, A_FAIL, A_KILL };

/* Counts one call of ``kind`` on ``path``; says whether this call must fail (errno is then set) or crash. */
static enum action tick(enum kind kind, const char *call, const char *path) {
    if (inactive || !matches_prefix(path)) return A_NONE;
    long n = atomic_fetch_add(&counters[kind], 1) + 1;
    if (trace_fd >= 0) {
        char line[4200];
        int len = snprintf(line, sizeof line, "%s %ld %s %s\n", kind_names[kind], n, call, path);
        if (len >= (int)sizeof line) len = (int)sizeof line - 1;
        if (len > 0) raw_write_all(trace_fd, line, (size_t)len);
    }
    if ((int)kind != target_kind || target_nth <= 0) return A_NONE;
    if (!(n == target_nth || (persist && n > target_nth))) return A_NONE;
    if (target_kill) return A_KILL;
    atomic_fetch_add(&injected, 1);
    errno = target_errno;
    return A_FAIL;
}

/* write and rename: a kill lands before the call takes effect. */
static int before_call(enum kind kind, const char *call, const char *path) {
    enum action action = tick(kind, call, path);
    if (action == A_KILL) kill(getpid(), SIGKILL);
    return action == A_FAIL;
}

static int is_regular(int fd, int or_dir) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    return S_ISREG(st.st_mode) || (or_dir && S_ISDIR(st.st_mode));
}

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static int write_point(int fd, const char *call) {
    if (fd <= 2 || !is_regular(fd, 0)) return 0; /* stdin/stdout/stderr are never fault points */
    char path[4096];
    fd_path(fd, path, sizeof path);
    return before_call(K_WRITE, call, path);
}

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(write);
    if (write_point(fd, "write")) return -1;
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite);
    if (write_point(fd, "pwrite")) return -1;
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    REAL(pwrite64);
    if (write_point(fd, "pwrite64")) return -1;
    return real_pwrite64(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(writev);
    if (write_point(fd, "writev")) return -1;
    return real_writev(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    REAL(pwritev);
    if (write_point(fd, "pwritev")) return -1;
    return real_pwritev(fd, iov, iovcnt, offset);
}

/* fsync: a failure skips the real call (a dead device syncs nothing); a kill lands right after the data
 * became durable. */
#define SYNC_WRAPPER(name)                                          \
    int name(int fd) {                                              \
        REAL(name);                                                 \
        enum action action = A_NONE;                                \
        if (is_regular(fd, 1)) {                                    \
            char path[4096];                                        \
            fd_path(fd, path, sizeof path);                         \
            action = tick(K_FSYNC, #name, path);                    \
        }                                                           \
        if (action == A_FAIL) return -1;                            \
        int result = real_##name(fd);                               \
        if (action == A_KILL) kill(getpid(), SIGKILL);              \
        return result;                                              \
    }

SYNC_WRAPPER(fsync)
SYNC_WRAPPER(fdatasync)
SYNC_WRAPPER(syncfs)

int rename(const char *oldpath, const char *newpath) {
    REAL(rename);
    char path[4096];
    at_path(AT_FDCWD, newpath, path, sizeof path);
    if (before_call(K_RENAME, "rename", path)) return -1;
    return real_rename(oldpath, newpath);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    REAL(renameat);
    char path[4096];
    at_path(newdirfd, newpath, path, sizeof path);
    if (before_call(K_RENAME, "renameat", path)) return -1;
    return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    REAL(renameat2);
    char path[4096];
    at_path(newdirfd, newpath, path, sizeof path);
    if (before_call(K_RENAME, "renameat2", path)) return -1;
    return real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* link and linkat publish a file under its final name without replacing one (vault/atomic.py place_new,
 * create_new): the same kind of crash point as a rename. */
int link(const char *oldpath, const char *newpath) {
    REAL(link);
    char path[4096];
    at_path(AT_FDCWD, newpath, path, sizeof path);
    if (before_call(K_RENAME, "link", path)) return -1;
    return real_link(oldpath, newpath);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags) {
    REAL(linkat);
    char path[4096];
    at_path(newdirfd, newpath, path, sizeof path);
    if (before_call(K_RENAME, "linkat", path)) return -1;
    return real_linkat(olddirfd, oldpath, newdirfd, newpath, flags);
}
