/* Power-loss and disk-fault interposer, LD_PRELOADed into switchboard.
 *
 * For the files under $POWERCUT_DIR it logs, to $POWERCUT_LOG (appended,
 * one write(2) per record, so that several processes can share one log),
 * every write with its offset and bytes and every sync as a barrier. A
 * power cut after any record is then the synced state of each file plus
 * any subset of the unsynced writes in 512-byte sectors; tests/faults/
 * powercut.py materialises such images.
 *
 * Record: u8 type, u32 path length, path, u64 a, u64 b, payload.
 *   PC_WRITE        a = offset, b = length, payload = the bytes written
 *   PC_WRITE_SYNC   the same, on an O_SYNC/O_DSYNC descriptor (durable)
 *   PC_SYNC_BEGIN   a = sync id: writes logged before it are covered...
 *   PC_SYNC_END     a = sync id, b = 0 on success: ...once this is logged
 *   PC_TRUNCATE     a = new size
 *   PC_MSYNC        a mapping was synced (MDB_WRITEMAP: not modelled)
 *   PC_FAULT        a = the errno injected
 *   PC_WRITE_SHORT  a = offset, b = what the write returned: a logged write
 *                   that failed or was short (the driver refuses the log)
 *
 * A write is logged before it is issued, so that its record precedes
 * anything that could see its bytes (a reader of the new meta page, an
 * acknowledgement); a sync logs its begin only once the writes in flight
 * in this process are done (a reader-writer lock), so that a write logged
 * before a sync's begin was issued before the sync started.
 *
 * Faults: $POWERCUT_FAULT names a file read before each tracked write or
 * sync. Its content "enospc" fails writes that extend a file with ENOSPC
 * (space inside the file stays writable, as on a full disk), "eio" fails
 * every write with EIO, "eio-sync" fails every fsync/fdatasync with EIO;
 * an empty or missing file injects nothing. Each injected fault is logged
 * as PC_FAULT (a = errno).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
  PC_WRITE = 1,
  PC_WRITE_SYNC = 2,
  PC_SYNC_BEGIN = 3,
  PC_SYNC_END = 4,
  PC_TRUNCATE = 5,
  PC_MSYNC = 6,
  PC_FAULT = 7,
  PC_WRITE_SHORT = 8,
};

enum { MAX_FDS = 65536 };

/* Per descriptor: 0 untracked, 1 tracked, 2 tracked with O_SYNC/O_DSYNC. */
static unsigned char tracked_[MAX_FDS];
static char dir_[PATH_MAX];
static size_t dir_len_;
static int log_fd_ = -1;
static const char* fault_path_;
static pthread_once_t once_ = PTHREAD_ONCE_INIT;
static uint64_t sync_serial_;
static pthread_rwlock_t in_flight_ = PTHREAD_RWLOCK_INITIALIZER;

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec*, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void*, size_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_open)(const char*, int, ...);
static int (*real_open64)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_openat64)(int, const char*, int, ...);
static int (*real_close)(int);

static void resolve(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_msync = dlsym(RTLD_NEXT, "msync");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_openat64 = dlsym(RTLD_NEXT, "openat64");
  real_close = dlsym(RTLD_NEXT, "close");
  const char* dir = getenv("POWERCUT_DIR");
  if (dir != NULL && realpath(dir, dir_) != NULL)
    dir_len_ = strlen(dir_);
  const char* log = getenv("POWERCUT_LOG");
  if (log != NULL && dir_len_ > 0)
    log_fd_ = real_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  fault_path_ = getenv("POWERCUT_FAULT");
}

static void init(void) {
  pthread_once(&once_, resolve);
}

/* The path of a tracked descriptor, or NULL. */
static int path_of(int fd, char* out, size_t n) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t len = readlink(link, out, n - 1);
  if (len < 0)
    return -1;
  out[len] = 0;
  return 0;
}

static void note_open(int fd, int flags) {
  if (fd < 0 || fd >= MAX_FDS || dir_len_ == 0)
    return;
  char path[PATH_MAX];
  if (path_of(fd, path, sizeof path) != 0)
    return;
  if (strncmp(path, dir_, dir_len_) != 0 || path[dir_len_] != '/')
    return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return;
  tracked_[fd] = (flags & (O_SYNC | O_DSYNC)) ? 2 : 1;
}

static int is_tracked(int fd) {
  return fd >= 0 && fd < MAX_FDS && tracked_[fd] != 0;
}

/* Appends one record; `iov` holds the payload. */
static void log_record(int fd, int type, uint64_t a, uint64_t b,
                       const struct iovec* iov, int iovcnt, size_t payload) {
  if (log_fd_ < 0)
    return;
  char path[PATH_MAX];
  if (path_of(fd, path, sizeof path) != 0)
    return;
  uint32_t plen = (uint32_t)strlen(path);
  size_t total = 1 + 4 + plen + 8 + 8 + payload;
  unsigned char* buf = malloc(total);
  if (buf == NULL)
    abort(); /* a lost record would make every image a lie */
  unsigned char* p = buf;
  *p++ = (unsigned char)type;
  memcpy(p, &plen, 4);
  p += 4;
  memcpy(p, path, plen);
  p += plen;
  memcpy(p, &a, 8);
  p += 8;
  memcpy(p, &b, 8);
  p += 8;
  size_t left = payload;
  for (int i = 0; i < iovcnt && left > 0; ++i) {
    size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    memcpy(p, iov[i].iov_base, n);
    p += n;
    left -= n;
  }
  ssize_t w = real_write(log_fd_, buf, total);
  free(buf);
  if (w != (ssize_t)total)
    abort();
}

/* The fault to inject for this call, 0 for none. */
static int fault_for(int fd, int is_sync, off_t off, size_t len) {
  if (fault_path_ == NULL)
    return 0;
  int f = real_open(fault_path_, O_RDONLY | O_CLOEXEC);
  if (f < 0)
    return 0;
  char what[32] = {0};
  ssize_t n = read(f, what, sizeof what - 1);
  real_close(f);
  if (n <= 0)
    return 0;
  int err = 0;
  if (!is_sync && strncmp(what, "enospc", 6) == 0) {
    struct stat st;
    if (off < 0)
      off = lseek(fd, 0, SEEK_CUR);
    if (fstat(fd, &st) == 0 && (off_t)(off + len) > st.st_size)
      err = ENOSPC;
  } else if (!is_sync && strncmp(what, "eio-sync", 8) != 0
             && strncmp(what, "eio", 3) == 0) {
    err = EIO;
  } else if (is_sync && strncmp(what, "eio-sync", 8) == 0) {
    err = EIO;
  }
  if (err != 0)
    log_record(fd, PC_FAULT, (uint64_t)err, 0, NULL, 0, 0);
  return err;
}

/* One write call to log: which function, and its arguments. */
struct call {
  int kind; /* 0 write, 1 pwrite, 2 pwrite64, 3 writev, 4 pwritev, 5 pwritev64 */
  int fd;
  const struct iovec* iov;
  int iovcnt;
  off_t off;
};

static ssize_t run_call(const struct call* c) {
  switch (c->kind) {
  case 0:
    return real_write(c->fd, c->iov[0].iov_base, c->iov[0].iov_len);
  case 1:
    return real_pwrite(c->fd, c->iov[0].iov_base, c->iov[0].iov_len, c->off);
  case 2:
    return real_pwrite64(c->fd, c->iov[0].iov_base, c->iov[0].iov_len,
                         c->off);
  case 3:
    return real_writev(c->fd, c->iov, c->iovcnt);
  case 4:
    return real_pwritev(c->fd, c->iov, c->iovcnt, c->off);
  default:
    return real_pwritev64(c->fd, c->iov, c->iovcnt, c->off);
  }
}

static ssize_t logged_write(const struct call* c) {
  size_t len = 0;
  for (int i = 0; i < c->iovcnt; ++i)
    len += c->iov[i].iov_len;
  int positioned = c->kind != 0 && c->kind != 3;
  off_t at = positioned ? c->off : lseek(c->fd, 0, SEEK_CUR);
  int err = fault_for(c->fd, 0, at, len);
  if (err != 0) {
    errno = err;
    return -1;
  }
  pthread_rwlock_rdlock(&in_flight_);
  log_record(c->fd, tracked_[c->fd] == 2 ? PC_WRITE_SYNC : PC_WRITE,
             (uint64_t)at, (uint64_t)len, c->iov, c->iovcnt, len);
  ssize_t rc = run_call(c);
  int saved = errno;
  if (rc != (ssize_t)len)
    log_record(c->fd, PC_WRITE_SHORT, (uint64_t)at, (uint64_t)rc, NULL, 0, 0);
  pthread_rwlock_unlock(&in_flight_);
  errno = saved;
  return rc;
}

static int logged_sync(int fd, int (*real)(int)) {
  int err = fault_for(fd, 1, 0, 0);
  if (err != 0) {
    errno = err;
    return -1;
  }
  uint64_t id = ((uint64_t)getpid() << 32)
                | (__atomic_add_fetch(&sync_serial_, 1, __ATOMIC_RELAXED)
                   & 0xffffffffu);
  pthread_rwlock_wrlock(&in_flight_);
  log_record(fd, PC_SYNC_BEGIN, id, 0, NULL, 0, 0);
  pthread_rwlock_unlock(&in_flight_);
  int rc = real(fd);
  int saved = errno;
  log_record(fd, PC_SYNC_END, id, rc == 0 ? 0 : 1, NULL, 0, 0);
  errno = saved;
  return rc;
}

/* -- wrapped calls -------------------------------------------------------- */

/* Runs `c`, logged where its descriptor is tracked. */
static ssize_t wrapped_write(const struct call* c) {
  init();
  return is_tracked(c->fd) ? logged_write(c) : run_call(c);
}

ssize_t write(int fd, const void* buf, size_t n) {
  struct iovec v = {(void*)buf, n};
  struct call c = {0, fd, &v, 1, 0};
  return wrapped_write(&c);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  struct iovec v = {(void*)buf, n};
  struct call c = {1, fd, &v, 1, off};
  return wrapped_write(&c);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  struct iovec v = {(void*)buf, n};
  struct call c = {2, fd, &v, 1, off};
  return wrapped_write(&c);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  struct call c = {3, fd, iov, iovcnt, 0};
  return wrapped_write(&c);
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  struct call c = {4, fd, iov, iovcnt, off};
  return wrapped_write(&c);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  struct call c = {5, fd, iov, iovcnt, off};
  return wrapped_write(&c);
}

int fsync(int fd) {
  init();
  if (!is_tracked(fd))
    return real_fsync(fd);
  return logged_sync(fd, real_fsync);
}

int fdatasync(int fd) {
  init();
  if (!is_tracked(fd))
    return real_fdatasync(fd);
  return logged_sync(fd, real_fdatasync);
}

int msync(void* addr, size_t len, int flags) {
  init();
  if (log_fd_ >= 0) {
    /* Which file a mapping belongs to is not tracked: the model covers
     * pwrite-based commits only (store.write_map=false). Say it happened so
     * that the driver refuses such a log. */
    unsigned char rec[1 + 4 + 8 + 8] = {PC_MSYNC};
    (void)real_write(log_fd_, rec, sizeof rec);
  }
  return real_msync(addr, len, flags);
}

static int logged_truncate(int fd, off_t size, int (*real)(int, off_t)) {
  int rc = real(fd, size);
  if (rc == 0) {
    int saved = errno;
    log_record(fd, PC_TRUNCATE, (uint64_t)size, 0, NULL, 0, 0);
    errno = saved;
  }
  return rc;
}

int ftruncate(int fd, off_t size) {
  init();
  if (!is_tracked(fd))
    return real_ftruncate(fd, size);
  return logged_truncate(fd, size, real_ftruncate);
}

int ftruncate64(int fd, off_t size) {
  init();
  if (!is_tracked(fd))
    return real_ftruncate64(fd, size);
  return logged_truncate(fd, size, real_ftruncate64);
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/* Defines `name`, which takes the parameters `...` then `flags` and a
 * mode where `flags` asks for one (see mode_arg), opens with `real_call`
 * and tracks the descriptor where it is under $POWERCUT_DIR. */
#define POWERCUT_OPEN(name, real_call, ...)                                    \
  int name(__VA_ARGS__, int flags, ...) {                                      \
    init();                                                                    \
    va_list ap;                                                                \
    va_start(ap, flags);                                                       \
    mode_t mode = mode_arg(flags, ap);                                         \
    va_end(ap);                                                                \
    int fd = real_call;                                                        \
    note_open(fd, flags);                                                      \
    return fd;                                                                 \
  }

POWERCUT_OPEN(open, real_open(path, flags, mode), const char* path)
POWERCUT_OPEN(open64, real_open64(path, flags, mode), const char* path)
POWERCUT_OPEN(openat, real_openat(dirfd, path, flags, mode), int dirfd,
              const char* path)
POWERCUT_OPEN(openat64, real_openat64(dirfd, path, flags, mode), int dirfd,
              const char* path)

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FDS)
    tracked_[fd] = 0;
  return real_close(fd);
}
