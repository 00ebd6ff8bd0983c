/*
 * elfprefetch recorder: which pages of each loaded ELF object a process touches, by file page.
 *
 * Loaded with LD_PRELOAD (and, for the best results, also named in LD_AUDIT) into the recorded
 * program; the environment carries it into every child. It needs nothing but glibc.
 *
 *   ELFPREFETCH_RECORD_DIR    where each process writes its raw result (rec-<pid>-<start>.txt);
 *                             without it the library does nothing at all.
 *   ELFPREFETCH_RECORD_MS     record only the first N ms of each process (0 or unset: whole run).
 *   ELFPREFETCH_RECORD_FLAGS  comma-separated switches for measurements: `nouffd` (leave
 *                             fault-around on), `nozap` (audit: keep the pages ld.so mapped
 *                             before the object was registered), `random` (MADV_RANDOM on the
 *                             objects' mappings).
 *
 * What a page in the result means: at the end of the window (or at exit, _exit, exec when the
 * process ends first) the page is mapped in the process's page tables (bit 63 of
 * /proc/self/pagemap) inside a mapping of the object's file. A file page gets mapped when the
 * process touches it, and also when the kernel's fault-around maps cached neighbours of a page
 * that faulted (up to the aligned 64 KiB block). Fault-around is what inflates a naive
 * pagemap snapshot 1.6-2.3x. The recorder turns it off, without privileges: a mapping
 * registered with a userfaultfd in asynchronous write-protect mode (UFFD_FEATURE_WP_ASYNC,
 * Linux 6.7) never faults around (mm/memory.c, should_fault_around), and nothing else changes
 * for it (no write-protection is armed, no event is ever delivered). The same mappings get
 * MADV_NOHUGEPAGE: a file whose page cache holds 2 MiB folios (khugepaged, large-folio
 * read-ahead) is otherwise mapped 512 pages at a time by one fault (do_set_pmd).
 *
 * Two roles, chosen at load time:
 *  - audit (LD_AUDIT, loaded by ld.so into a namespace of its own before the program's
 *    libraries): la_objopen registers each object's mappings as soon as ld.so has mapped it,
 *    before relocation, and unmaps again (MADV_DONTNEED) the few pages ld.so already touched
 *    with fault-around on (they fault back in, one page at a time, when used again).
 *    So everything from relocation on is exact, dlopen'd libraries included. ld.so itself is
 *    registered but not cleared (its start-up code ran before any audit module).
 *  - preload (LD_PRELOAD, base namespace): the constructor notes the start time and the pages
 *    already mapped ("pre"), registers any object mapping the audit role did not (all of them
 *    without LD_AUDIT: then the pre pages carry fault-around inflation), and writes the result
 *    at the end of the window (a thread that sleeps until then), at exit (destructor), in
 *    _exit/_Exit, and before exec (all exec functions; a failed exec records again later). A
 *    fork child starts a recording of its own (a fresh userfaultfd: registrations are not
 *    inherited). exec and posix_spawn put the recorder's variables back into an environment the
 *    program replaced. Not seen: processes killed by a signal, static programs, setuid programs,
 *    pages only read with read(2), mappings gone before the snapshot.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* ---------------------------------------------------------------------------------------------
 * System calls without libc's wrappers, so the recorder's own work maps no page of libc that the
 * program did not touch itself (returns -errno on failure). Other machines use syscall(2).
 */
#if defined(__x86_64__)
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
  return x0;
}
#else
static long rsys(long n, long a, long b, long c, long d, long e, long f) {
  long r = syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
#endif
#define RS(n, a, b, c, d, e, f) rsys((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static int r_open(const char *path, int flags, int mode) { return (int)RS(SYS_openat, AT_FDCWD, path, flags, mode, 0, 0); }
static long r_read(int fd, void *b, size_t n) { return RS(SYS_read, fd, b, n, 0, 0, 0); }
static long r_pread(int fd, void *b, size_t n, uint64_t off) { return RS(SYS_pread64, fd, b, n, off, 0, 0); }
static long r_write(int fd, const void *b, size_t n) { return RS(SYS_write, fd, b, n, 0, 0, 0); }
static int r_close(int fd) { return (int)RS(SYS_close, fd, 0, 0, 0, 0, 0); }
static void *r_mmap(size_t n) {
  long r = RS(SYS_mmap, 0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
static void *r_mremap(void *p, size_t old, size_t n) {
  long r = RS(SYS_mremap, p, old, n, MREMAP_MAYMOVE, 0, 0);
  return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
static int r_munmap(void *p, size_t n) { return (int)RS(SYS_munmap, p, n, 0, 0, 0, 0); }
static int r_madvise(uint64_t p, uint64_t n, int advice) { return (int)RS(SYS_madvise, p, n, advice, 0, 0, 0); }
static int r_ioctl(int fd, unsigned long req, void *arg) { return (int)RS(SYS_ioctl, fd, req, arg, 0, 0, 0); }
static int r_fcntl(int fd, int cmd, long arg) { return (int)RS(SYS_fcntl, fd, cmd, arg, 0, 0, 0); }
static pid_t r_getpid(void) { return (pid_t)RS(SYS_getpid, 0, 0, 0, 0, 0, 0); }
static pid_t r_getppid(void) { return (pid_t)RS(SYS_getppid, 0, 0, 0, 0, 0, 0); }
static long r_readlink(const char *path, char *b, size_t n) { return RS(SYS_readlinkat, AT_FDCWD, path, b, n, 0, 0); }
static int r_rename(const char *a, const char *b) { return (int)RS(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 0, 0); }
static int r_unlink(const char *path) { return (int)RS(SYS_unlinkat, AT_FDCWD, path, 0, 0, 0, 0); }
static int r_nofile(struct rlimit *rl) { return (int)RS(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, rl, 0, 0); }
static int r_userfaultfd(int flags) { return (int)RS(SYS_userfaultfd, flags, 0, 0, 0, 0, 0); }
static int r_clock_gettime(struct timespec *ts) { return (int)RS(SYS_clock_gettime, CLOCK_MONOTONIC, ts, 0, 0, 0, 0); }
static int r_sleep_until(const struct timespec *ts) { return (int)RS(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, ts, 0, 0, 0); }
static int r_sleep(const struct timespec *ts) { return (int)RS(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, ts, 0, 0, 0); }
__attribute__((noreturn)) static void r_exit_group(int status) {
  for (;;) RS(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

#define EXPORT __attribute__((visibility("default")))
#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)

extern char **environ;

/* ---------------------------------------------------------------------------------------------
 * Memory without malloc: the recorder also runs in forked children of threaded programs and in
 * _exit, where the heap may be locked. Buffers are anonymous mappings.
 */
struct buf {
  char *p;
  size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t n = b->cap ? b->cap : 1 << 16;
  while (n < b->len + more) n *= 2;
  void *q = b->p ? r_mremap(b->p, b->cap, n) : r_mmap(n);
  if (q == MAP_FAILED) return -1;
  b->p = q;
  b->cap = n;
  return 0;
}

static void buf_free(struct buf *b) {
  if (b->p) r_munmap(b->p, b->cap);
  b->p = NULL;
  b->len = b->cap = 0;
}

static int buf_add(struct buf *b, const void *s, size_t n) {
  if (buf_reserve(b, n)) return -1;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static int buf_str(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

static int buf_u64(struct buf *b, uint64_t v) {
  char t[24];
  int i = sizeof t;
  do t[--i] = (char)('0' + v % 10), v /= 10;
  while (v);
  return buf_add(b, t + i, sizeof t - i);
}

static int buf_hex(struct buf *b, uint64_t v) {
  char t[20];
  int i = sizeof t;
  do t[--i] = "0123456789abcdef"[v & 15], v >>= 4;
  while (v);
  return buf_add(b, t + i, sizeof t - i);
}

/* Reads a whole (proc) file into b, NUL-terminated. */
static int read_file(const char *path, struct buf *b) {
  int fd = r_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  b->len = 0;
  for (;;) {
    if (buf_reserve(b, 65536)) break;
    long n = r_read(fd, b->p + b->len, b->cap - b->len - 1);
    if (n == -EINTR) continue;
    if (n <= 0) break;
    b->len += (size_t)n;
  }
  r_close(fd);
  if (!b->p) return -1;
  b->p[b->len] = 0;
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  r_clock_gettime(&ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t parse_u64(const char *s) {
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * /proc/self/maps
 */
struct mapping {
  uint64_t start, end, pgoff;
  char perms[5];
  uint64_t ino;
  unsigned dev_major, dev_minor;
  const char *path; /* not NUL-terminated; path_len bytes */
  size_t path_len;
};

static const char *hexnum(const char *s, uint64_t *v) {
  uint64_t x = 0;
  for (;; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (*s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
    else break;
    x = x * 16 + (uint64_t)d;
  }
  *v = x;
  return s;
}

/* Next line of maps text at *cur; 0 at the end. */
static int next_mapping(const char **cur, struct mapping *m) {
  const char *s = *cur;
  if (!*s) return 0;
  const char *eol = strchr(s, '\n');
  if (!eol) eol = s + strlen(s);
  uint64_t v;
  s = hexnum(s, &m->start);
  s = hexnum(s + 1, &m->end);
  s++;
  for (int i = 0; i < 4; i++) m->perms[i] = *s ? *s++ : '-';
  m->perms[4] = 0;
  s = hexnum(s + 1, &m->pgoff);
  s = hexnum(s + 1, &v);
  m->dev_major = (unsigned)v;
  s = hexnum(s + 1, &v);
  m->dev_minor = (unsigned)v;
  while (*s == ' ') s++;
  m->ino = parse_u64(s);
  while (s < eol && *s != ' ') s++;
  while (s < eol && *s == ' ') s++;
  m->path = s;
  m->path_len = (size_t)(eol - s);
  *cur = *eol ? eol + 1 : eol;
  return 1;
}

static int is_file_mapping(const struct mapping *m) {
  static const char deleted[] = " (deleted)";
  size_t dl = sizeof deleted - 1;
  if (m->ino == 0 || m->path_len == 0 || m->path[0] != '/') return 0;
  if (m->path_len > dl && memcmp(m->path + m->path_len - dl, deleted, dl) == 0) return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------------
 * userfaultfd: registering a mapping in write-protect mode with WP_ASYNC turns off fault-around.
 */
static int high_fd(int fd) {
  struct rlimit rl;
  int base = 900;
  if (r_nofile(&rl) == 0 && rl.rlim_cur < 1024) base = rl.rlim_cur > 64 ? (int)rl.rlim_cur - 32 : 3;
  int hi = r_fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (hi < 0) return fd;
  r_close(fd);
  return hi;
}

static int uffd_open(void) {
  int fd = r_userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (fd == -EINVAL) fd = r_userfaultfd(O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
  if (r_ioctl(fd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
    r_close(fd);
    return -1;
  }
  return high_fd(fd);
}

/* 0 registered, 1 already registered by another userfaultfd (the audit role), -1 failed. */
static int uffd_register(int fd, uint64_t start, uint64_t end) {
  struct uffdio_register r = {.range = {.start = start, .len = end - start}, .mode = UFFDIO_REGISTER_MODE_WP};
  int rc = r_ioctl(fd, UFFDIO_REGISTER, &r);
  return rc == 0 ? 0 : rc == -EBUSY ? 1 : -1;
}

static int has_flag(const char *flags, const char *name) {
  if (!flags) return 0;
  size_t n = strlen(name);
  for (const char *s = flags; *s;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == n && memcmp(s, name, n) == 0) return 1;
    if (!e) break;
    s = e + 1;
  }
  return 0;
}

/* =============================================================================================
 * Audit role
 */
static int audit_uffd = -1;
static pid_t audit_pid;
static int audit_zap = 1, audit_zap_rtld;
static int audit_on;

static void audit_ensure_uffd(void) {
  pid_t pid = r_getpid();
  if (audit_uffd >= 0 && audit_pid == pid) return;
  if (audit_uffd >= 0) r_close(audit_uffd); /* a fork child: that one belongs to the parent's mm */
  audit_uffd = uffd_open();
  audit_pid = pid;
}

EXPORT unsigned int la_version(unsigned int version) {
  const char *dir = getenv("ELFPREFETCH_RECORD_DIR");
  if (!dir || !*dir || version < 1) return 0;
  const char *flags = getenv("ELFPREFETCH_RECORD_FLAGS");
  if (has_flag(flags, "nouffd")) return 0;
  audit_zap = !has_flag(flags, "nozap");
  audit_zap_rtld = has_flag(flags, "zaprtld");
  audit_on = 1;
  audit_ensure_uffd();
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}

/*
 * Unmaps the present pages of a private mapping that are still the file's own (never written:
 * pagemap bit 61); they fault back in, one page at a time, when touched again. Private copies
 * (written pages, like the zeroed tail of a data segment) stay. Used only where no other thread
 * can be writing to the mapping: an object ld.so has just mapped and not yet relocated, or a
 * fork child before it returns from fork.
 */
static void zap_file_pages(int pm, const struct mapping *m) {
  if (m->perms[3] != 'p') return;
  uint64_t ps = (uint64_t)getpagesize();
  uint64_t entries[512];
  for (uint64_t a = m->start; a < m->end;) {
    uint64_t n = (m->end - a) / ps;
    if (n > 512) n = 512;
    if (r_pread(pm, entries, n * 8, a / ps * 8) != (long)(n * 8)) return;
    for (uint64_t i = 0; i < n;) {
      if ((entries[i] & (PM_PRESENT | PM_FILE)) != (PM_PRESENT | PM_FILE)) {
        i++;
        continue;
      }
      uint64_t j = i;
      while (j < n && (entries[j] & (PM_PRESENT | PM_FILE)) == (PM_PRESENT | PM_FILE)) j++;
      r_madvise(a + i * ps, (j - i) * ps, MADV_DONTNEED);
      i = j;
    }
    a += n * ps;
  }
}

EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie) {
  (void)cookie;
  if (!audit_on || lmid != LM_ID_BASE || !map || !map->l_ld) return 0;
  int saved = errno;
  audit_ensure_uffd();
  if (audit_uffd < 0) goto out;
  struct buf maps = {0};
  if (read_file("/proc/self/maps", &maps)) goto out;
  uint64_t at = (uint64_t)(uintptr_t)map->l_ld, rtld = getauxval(AT_BASE);
  /* The object: the run of consecutive mappings of one file around its dynamic section. */
  struct mapping m, first = {0};
  const char *cur = maps.p, *group = NULL, *line;
  int found = 0;
  for (line = cur; next_mapping(&cur, &m); line = cur) {
    if (!is_file_mapping(&m)) {
      group = NULL;
      continue;
    }
    if (!group || m.ino != first.ino || m.dev_major != first.dev_major || m.dev_minor != first.dev_minor) {
      group = line;
      first = m;
    }
    if (m.start <= at && at < m.end) {
      found = 1;
      break;
    }
  }
  if (found) {
    int is_rtld = 0, pm = -1;
    const char *g = group;
    struct mapping x;
    while (next_mapping(&g, &x) && x.ino == first.ino && x.dev_major == first.dev_major && x.dev_minor == first.dev_minor) {
      if (x.start <= rtld && rtld < x.end) is_rtld = 1;
    }
    if (audit_zap && (!is_rtld || audit_zap_rtld)) pm = r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
    g = group;
    while (next_mapping(&g, &x) && x.ino == first.ino && x.dev_major == first.dev_major && x.dev_minor == first.dev_minor) {
      r_madvise(x.start, x.end - x.start, MADV_NOHUGEPAGE);
      uffd_register(audit_uffd, x.start, x.end);
      if (pm >= 0) zap_file_pages(pm, &x);
    }
    if (pm >= 0) r_close(pm);
  }
  buf_free(&maps);
out:
  errno = saved;
  return 0;
}

/* =============================================================================================
 * Preload role
 */
enum { RECORDING = 0, SNAPSHOT = 1, WRITTEN = 2 };

static int active;        /* this instance records (base namespace, directory given) */
static int state;         /* RECORDING, SNAPSHOT, WRITTEN (atomic) */
static pid_t my_pid;      /* the process this recording belongs to */
static uint64_t start_ns; /* CLOCK_MONOTONIC at the start of the recording */
static uint64_t window_ms;
static int uffd = -1;
static int flag_nouffd, flag_random;
static char dir[4096];
static char self_path[4096];  /* this library */
static uint64_t self_lo, self_hi;
static char env_dir[4200], env_ms[64], env_flags[512];
static int want_audit;        /* LD_AUDIT named this library */
static unsigned uffd_ok, uffd_busy, uffd_failed;
static struct buf pre;        /* sorted virtual page numbers present when recording started */
static pid_t fork_parent;

/*
 * The functions we wrap, looked up when first used (after the snapshot an exec takes, so the
 * lookup's own pages are not counted). execve, execveat and fexecve are plain system calls.
 */
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]);
static execvpe_fn real_execvpe;
static spawn_fn real_posix_spawn, real_posix_spawnp;

/* Address ranges of the base namespace's ELF objects (PT_LOAD, page-rounded), our own excluded. */
struct ranges {
  struct buf b; /* pairs of uint64_t */
};

static int collect_range(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct ranges *r = data;
  uint64_t ps = (uint64_t)getpagesize();
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *p = &info->dlpi_phdr[i];
    if (p->p_type != PT_LOAD || p->p_memsz == 0) continue;
    uint64_t lo = (info->dlpi_addr + p->p_vaddr) & ~(ps - 1);
    uint64_t hi = (info->dlpi_addr + p->p_vaddr + p->p_memsz + ps - 1) & ~(ps - 1);
    if (lo < self_hi && self_lo < hi) return 0; /* the recorder itself */
    uint64_t pair[2] = {lo, hi};
    buf_add(&r->b, pair, sizeof pair);
  }
  return 0;
}

/* The part of [lo, hi) inside one object range; 0 if none. Ranges are few; a scan is enough. */
static int object_overlap(const struct ranges *r, uint64_t lo, uint64_t hi, uint64_t *a, uint64_t *b, uint64_t from) {
  const uint64_t *p = (const uint64_t *)r->b.p;
  size_t n = r->b.len / 16;
  uint64_t best_a = UINT64_MAX, best_b = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t s = p[2 * i] > lo ? p[2 * i] : lo, e = p[2 * i + 1] < hi ? p[2 * i + 1] : hi;
    if (s < from) s = from;
    if (s < e && s < best_a) best_a = s, best_b = e;
  }
  if (best_a == UINT64_MAX) return 0;
  *a = best_a;
  *b = best_b;
  return 1;
}

static int pre_contains(uint64_t vpn) {
  const uint64_t *v = (const uint64_t *)pre.p;
  size_t lo = 0, hi = pre.len / 8;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid] < vpn) lo = mid + 1;
    else if (v[mid] > vpn) hi = mid;
    else return 1;
  }
  return 0;
}

/* Appends `a-b,c` runs of file pages to out. */
struct runs {
  struct buf *out;
  uint64_t first, last;
  int open, any;
};

static void runs_flush(struct runs *r) {
  if (!r->open) return;
  if (r->any) buf_str(r->out, ",");
  buf_u64(r->out, r->first);
  if (r->last != r->first) buf_str(r->out, "-"), buf_u64(r->out, r->last);
  r->any = 1;
  r->open = 0;
}

static void runs_add(struct runs *r, uint64_t page) {
  if (r->open && page == r->last + 1) {
    r->last = page;
    return;
  }
  runs_flush(r);
  r->first = r->last = page;
  r->open = 1;
}

/*
 * Walks every file mapping of the base namespace's objects and reports present pages: with
 * out == NULL, collects their virtual page numbers into `pre`; otherwise appends `map`, `pre`
 * and `post` lines (file pages) to out.
 */
static int walk_present(struct buf *out) {
  struct buf maps = {0};
  struct ranges r = {{0}};
  uint64_t ps = (uint64_t)getpagesize();
  int pm = -1, rc = -1;
  uint64_t *entries = NULL;
  const size_t chunk = 4096;
  if (read_file("/proc/self/maps", &maps)) goto done;
  dl_iterate_phdr(collect_range, &r);
  pm = r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
  if (pm < 0) goto done;
  entries = r_mmap(chunk * 8);
  if (entries == MAP_FAILED) {
    entries = NULL;
    goto done;
  }
  struct buf pre_line = {0}, post_line = {0};
  const char *cur = maps.p;
  struct mapping m;
  while (next_mapping(&cur, &m)) {
    if (!is_file_mapping(&m)) continue;
    uint64_t a, b, from = m.start;
    int header = 0;
    struct runs rp = {&pre_line, 0, 0, 0, 0}, rq = {&post_line, 0, 0, 0, 0};
    pre_line.len = post_line.len = 0;
    while (object_overlap(&r, m.start, m.end, &a, &b, from)) {
      for (uint64_t at = a; at < b;) {
        uint64_t n = (b - at) / ps;
        if (n > chunk) n = chunk;
        if (r_pread(pm, entries, n * 8, at / ps * 8) != (long)(n * 8)) break;
        for (uint64_t i = 0; i < n; i++) {
          if (!(entries[i] & PM_PRESENT)) continue;
          uint64_t vpn = at / ps + i;
          if (!out) {
            buf_add(&pre, &vpn, 8);
            continue;
          }
          uint64_t page = m.pgoff / ps + (at - m.start) / ps + i;
          runs_add(pre_contains(vpn) ? &rp : &rq, page);
          header = 1;
        }
        at += n * ps;
      }
      from = b;
    }
    if (out && header) {
      runs_flush(&rp);
      runs_flush(&rq);
      buf_str(out, "map ");
      buf_hex(out, m.start), buf_str(out, "-"), buf_hex(out, m.end), buf_str(out, " ");
      buf_str(out, m.perms), buf_str(out, " ");
      buf_hex(out, m.pgoff), buf_str(out, " ");
      buf_u64(out, m.dev_major), buf_str(out, ":"), buf_u64(out, m.dev_minor), buf_str(out, " ");
      buf_u64(out, m.ino), buf_str(out, " ");
      buf_add(out, m.path, m.path_len), buf_str(out, "\n");
      buf_str(out, "pre "), buf_add(out, pre_line.p, pre_line.len), buf_str(out, "\n");
      buf_str(out, "post "), buf_add(out, post_line.p, post_line.len), buf_str(out, "\n");
    }
  }
  buf_free(&pre_line);
  buf_free(&post_line);
  rc = 0;
done:
  if (entries) r_munmap(entries, chunk * 8);
  if (pm >= 0) r_close(pm);
  buf_free(&maps);
  buf_free(&r.b);
  return rc;
}

/*
 * Registers every object mapping not registered yet with our userfaultfd. With `zap` (a fork
 * child, whose registrations were not inherited), also unmaps the unwritten file pages that
 * were mapped when it forked or by fault-around since, so what the child touches from now on
 * shows exactly; the parent's own result has the pages of the code that forked.
 */
static void register_all(int zap) {
  struct buf maps = {0};
  struct ranges r = {{0}};
  if (read_file("/proc/self/maps", &maps)) return;
  dl_iterate_phdr(collect_range, &r);
  int pm = zap && uffd >= 0 ? r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0) : -1;
  const char *cur = maps.p;
  struct mapping m;
  while (next_mapping(&cur, &m)) {
    uint64_t a, b;
    if (!is_file_mapping(&m) || !object_overlap(&r, m.start, m.end, &a, &b, m.start)) continue;
    if (flag_random) r_madvise(m.start, m.end - m.start, MADV_RANDOM);
    if (uffd < 0) continue;
    r_madvise(m.start, m.end - m.start, MADV_NOHUGEPAGE);
    int rc = uffd_register(uffd, m.start, m.end);
    if (rc == 0) uffd_ok++;
    else if (rc == 1) uffd_busy++;
    else uffd_failed++;
    if (rc == 0 && pm >= 0 && (m.start >= self_hi || m.end <= self_lo)) zap_file_pages(pm, &m);
  }
  if (pm >= 0) r_close(pm);
  buf_free(&maps);
  buf_free(&r.b);
}

static void write_result(const char *reason) {
  struct buf out = {0};
  uint64_t snap = now_ns();
  char exe[4096];
  long n = r_readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  buf_str(&out, "elfprefetch-record 1\npid "), buf_u64(&out, (uint64_t)my_pid);
  buf_str(&out, "\nppid "), buf_u64(&out, (uint64_t)r_getppid());
  buf_str(&out, "\nforked "), buf_u64(&out, (uint64_t)fork_parent);
  buf_str(&out, "\nexe "), buf_str(&out, exe);
  buf_str(&out, "\nstart_ns "), buf_u64(&out, start_ns);
  buf_str(&out, "\nsnap_ns "), buf_u64(&out, snap);
  buf_str(&out, "\nwindow_ms "), buf_u64(&out, window_ms);
  buf_str(&out, "\nreason "), buf_str(&out, reason);
  buf_str(&out, "\npagesize "), buf_u64(&out, (uint64_t)getpagesize());
  buf_str(&out, "\nuffd "), buf_str(&out, uffd >= 0 ? "yes" : "no");
  buf_str(&out, " registered "), buf_u64(&out, uffd_ok);
  buf_str(&out, " by-audit "), buf_u64(&out, uffd_busy);
  buf_str(&out, " failed "), buf_u64(&out, uffd_failed);
  buf_str(&out, "\n");
  if (walk_present(&out) == 0) buf_str(&out, "end\n");
  char path[4400], tmp[4410];
  struct buf name = {0};
  buf_str(&name, dir), buf_str(&name, "/rec-"), buf_u64(&name, (uint64_t)my_pid), buf_str(&name, "-"), buf_u64(&name, start_ns);
  buf_str(&name, ".txt"), buf_add(&name, "", 1);
  if (name.p && name.len < sizeof path) {
    memcpy(path, name.p, name.len);
    memcpy(tmp, name.p, name.len - 1);
    memcpy(tmp + name.len - 1, ".tmp", 5);
    int fd = r_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      size_t off = 0;
      while (out.p && off < out.len) {
        long w = r_write(fd, out.p + off, out.len - off);
        if (w == -EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
      }
      r_close(fd);
      if (out.p && off == out.len) r_rename(tmp, path);
      else r_unlink(tmp);
    }
  }
  buf_free(&name);
  buf_free(&out);
}

/*
 * Ends the recording once: the first caller snapshots, a concurrent caller waits (bounded) for
 * the file to be complete, so an exit racing the window thread does not cut the file short.
 * A vfork child (same memory, another pid) does nothing: its parent records that memory.
 */
static void finish(const char *reason) {
  if (!active || r_getpid() != my_pid) return;
  int saved = errno;
  int expect = RECORDING;
  if (__atomic_compare_exchange_n(&state, &expect, SNAPSHOT, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    write_result(reason);
    __atomic_store_n(&state, WRITTEN, __ATOMIC_SEQ_CST);
  } else {
    for (int i = 0; i < 3000 && __atomic_load_n(&state, __ATOMIC_SEQ_CST) == SNAPSHOT; i++) {
      struct timespec ts = {0, 1000000};
      r_sleep(&ts);
    }
  }
  errno = saved;
}

static void *window_thread(void *arg) {
  (void)arg;
  uint64_t end = start_ns + window_ms * 1000000ULL;
  struct timespec ts = {(time_t)(end / 1000000000ULL), (long)(end % 1000000000ULL)};
  while (r_sleep_until(&ts) == -EINTR) {
  }
  finish("window");
  return NULL;
}

static void start_window_thread(void) {
  if (!window_ms) return;
  pthread_attr_t attr;
  pthread_t t;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits it: it takes no signals */
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_create(&t, &attr, window_thread, NULL);
    pthread_attr_destroy(&attr);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void begin(int forked) {
  my_pid = r_getpid();
  start_ns = now_ns();
  __atomic_store_n(&state, RECORDING, __ATOMIC_SEQ_CST);
  pre.len = 0;
  uffd_ok = uffd_busy = uffd_failed = 0;
  if (!forked) walk_present(NULL);
  if (!flag_nouffd) uffd = uffd_open();
  register_all(forked);
  if (forked) walk_present(NULL);
  start_window_thread();
}

static void after_fork_child(void) {
  if (!active) return;
  int saved = errno;
  if (uffd >= 0) r_close(uffd); /* the parent's: its registrations are on the parent's memory */
  uffd = -1;
  fork_parent = my_pid;
  begin(1);
  errno = saved;
}

extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

/* The base namespace's link map (ld.so's _r_debug) lists us, the LD_AUDIT copy is elsewhere. */
static int in_base_namespace(void) {
  struct link_map *l = _r_debug.r_map;
  if (!l) return 1;
  for (; l; l = l->l_next)
    if (l->l_ld == _DYNAMIC) return 1;
  return 0;
}

/* Our own mappings (the run of one file's lines around our code) and path, from maps. */
static void find_self(void) {
  struct buf maps = {0};
  if (read_file("/proc/self/maps", &maps)) return;
  uint64_t here = (uint64_t)(uintptr_t)&find_self, run_lo = 0;
  struct mapping m, first = {0};
  const char *cur = maps.p;
  int in = 0, have = 0;
  while (next_mapping(&cur, &m)) {
    if (!is_file_mapping(&m)) {
      if (in) break;
      have = 0;
      continue;
    }
    if (!(have && m.ino == first.ino && m.dev_major == first.dev_major && m.dev_minor == first.dev_minor)) {
      if (in) break; /* the run that holds our code ended */
      first = m;
      run_lo = m.start;
      have = 1;
    }
    if (m.start <= here && here < m.end) {
      in = 1;
      if (m.path_len < sizeof self_path) memcpy(self_path, m.path, m.path_len), self_path[m.path_len] = 0;
    }
    if (in) self_lo = run_lo, self_hi = m.end;
  }
  if (!in) self_lo = self_hi = 0;
  buf_free(&maps);
}

static int contains_self(const char *list) {
  size_t n = strlen(self_path);
  for (const char *s = list; s && *s;) {
    while (*s == ':' || *s == ' ') s++;
    const char *e = s;
    while (*e && *e != ':' && *e != ' ') e++;
    if ((size_t)(e - s) == n && memcmp(s, self_path, n) == 0) return 1;
    s = e;
  }
  return 0;
}

__attribute__((constructor)) static void recorder_init(void) {
  const char *d = getenv("ELFPREFETCH_RECORD_DIR");
  if (!d || !*d || strlen(d) >= sizeof dir - 64) return;
  if (!in_base_namespace()) return; /* the LD_AUDIT copy: only la_* work there */
  int saved = errno;
  strcpy(dir, d);
  const char *ms = getenv("ELFPREFETCH_RECORD_MS");
  window_ms = ms ? parse_u64(ms) : 0;
  const char *flags = getenv("ELFPREFETCH_RECORD_FLAGS");
  flag_nouffd = has_flag(flags, "nouffd");
  flag_random = has_flag(flags, "random");
  find_self();
  want_audit = contains_self(getenv("LD_AUDIT"));
  strcpy(env_dir, "ELFPREFETCH_RECORD_DIR="), strcat(env_dir, dir);
  if (ms && strlen(ms) < 32) strcpy(env_ms, "ELFPREFETCH_RECORD_MS="), strcat(env_ms, ms);
  if (flags && strlen(flags) < 400) strcpy(env_flags, "ELFPREFETCH_RECORD_FLAGS="), strcat(env_flags, flags);
  active = 1;
  pthread_atfork(NULL, NULL, after_fork_child);
  begin(0);
  errno = saved;
}

__attribute__((destructor)) static void recorder_fini(void) { finish("exit"); }

EXPORT void _exit(int status) {
  finish("_exit");
  r_exit_group(status);
}

EXPORT void _Exit(int status) {
  finish("_exit");
  r_exit_group(status);
}

/* ---------------------------------------------------------------------------------------------
 * exec: record first, and keep the recorder in the environment the new program gets.
 */

/* "NAME=" entry of envp, or NULL. */
static const char *env_find(char *const envp[], const char *name, size_t n) {
  for (size_t i = 0; envp && envp[i]; i++)
    if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=') return envp[i] + n + 1;
  return NULL;
}

/*
 * Returns envp, or a copy (in an anonymous mapping, released by env_release) with the
 * recorder's variables added where the program left them out.
 */
static char **env_fix(char *const envp[], struct buf *store) {
  if (!active) return (char **)envp;
  const char *pre_v = env_find(envp, "LD_PRELOAD", 10), *aud_v = env_find(envp, "LD_AUDIT", 8);
  int need_pre = !contains_self(pre_v), need_aud = want_audit && !contains_self(aud_v);
  int need_dir = !env_find(envp, "ELFPREFETCH_RECORD_DIR", 22);
  int need_ms = env_ms[0] && !env_find(envp, "ELFPREFETCH_RECORD_MS", 21);
  int need_flags = env_flags[0] && !env_find(envp, "ELFPREFETCH_RECORD_FLAGS", 24);
  if (!need_pre && !need_aud && !need_dir && !need_ms && !need_flags) return (char **)envp;
  size_t count = 0;
  while (envp && envp[count]) count++;
  /* strings first, then the array (offsets, since the buffer may move while it grows) */
  size_t offs[5];
  int k = 0;
  if (need_pre) {
    offs[k++] = store->len;
    buf_str(store, "LD_PRELOAD="), buf_str(store, self_path);
    if (pre_v && *pre_v) buf_str(store, ":"), buf_str(store, pre_v);
    buf_add(store, "", 1);
  }
  if (need_aud) {
    offs[k++] = store->len;
    buf_str(store, "LD_AUDIT="), buf_str(store, self_path);
    if (aud_v && *aud_v) buf_str(store, ":"), buf_str(store, aud_v);
    buf_add(store, "", 1);
  }
  if (need_dir) offs[k++] = store->len, buf_str(store, env_dir), buf_add(store, "", 1);
  if (need_ms) offs[k++] = store->len, buf_str(store, env_ms), buf_add(store, "", 1);
  if (need_flags) offs[k++] = store->len, buf_str(store, env_flags), buf_add(store, "", 1);
  size_t align = (store->len + 15) & ~(size_t)15;
  if (buf_reserve(store, align - store->len + (count + 6) * sizeof(char *))) return (char **)envp;
  store->len = align;
  char **out = (char **)(store->p + align);
  size_t j = 0;
  for (size_t i = 0; i < count; i++) {
    if ((need_pre && strncmp(envp[i], "LD_PRELOAD=", 11) == 0) || (need_aud && strncmp(envp[i], "LD_AUDIT=", 9) == 0)) continue;
    out[j++] = envp[i];
  }
  for (int i = 0; i < k; i++) out[j++] = store->p + offs[i];
  out[j] = NULL;
  return out;
}

#define EXEC_BEGIN(envp)            \
  struct buf store = {0};           \
  finish("exec");                   \
  char **fixed = env_fix(envp, &store)

#define EXEC_END(rc)                                                                          \
  do {                                                                                        \
    int e = errno;                                                                            \
    buf_free(&store);                                                                         \
    /* the exec failed: keep recording; the final snapshot replaces the one just written */ \
    if (active && r_getpid() == my_pid) __atomic_store_n(&state, RECORDING, __ATOMIC_SEQ_CST);  \
    errno = e;                                                                                \
    return rc;                                                                                \
  } while (0)

static int missing(void) {
  errno = ENOSYS;
  return -1;
}

static int sys_result(long rc) {
  if (rc < 0 && rc > -4096) {
    errno = (int)-rc;
    return -1;
  }
  return (int)rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execve, path, argv, fixed, 0, 0, 0));
  EXEC_END(rc);
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  if (!real_execvpe) real_execvpe = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
  int rc = real_execvpe ? real_execvpe(file, argv, fixed) : missing();
  EXEC_END(rc);
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execveat, fd, "", argv, fixed, AT_EMPTY_PATH, 0));
  EXEC_END(rc);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execveat, dirfd, path, argv, fixed, flags, 0));
  EXEC_END(rc);
}

/* execl, execlp, execle: collect the arguments, then as execv, execvp, execve. */
#define COLLECT_ARGS(arg, ap, argv, envp_out)                    \
  size_t argc_ = 1;                                              \
  va_start(ap, arg);                                             \
  while (va_arg(ap, const char *)) argc_++;                      \
  va_end(ap);                                                    \
  const char **argv = __builtin_alloca((argc_ + 1) * sizeof(char *)); \
  va_start(ap, arg);                                             \
  argv[0] = arg;                                                 \
  for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, const char *); \
  envp_out;                                                      \
  va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return execve(path, (char *const *)argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return execvpe(file, (char *const *)argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...) {
  va_list ap;
  char *const *envp;
  COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char *const *));
  return execve(path, (char *const *)argv, envp);
}

/* posix_spawn: the child is recorded by its own copy of the recorder; only the environment. */
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  struct buf store = {0};
  char **fixed = env_fix(envp, &store);
  if (!real_posix_spawn) real_posix_spawn = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
  int rc = real_posix_spawn ? real_posix_spawn(pid, path, fa, attr, argv, fixed) : ENOSYS;
  buf_free(&store);
  return rc;
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  struct buf store = {0};
  char **fixed = env_fix(envp, &store);
  if (!real_posix_spawnp) real_posix_spawnp = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
  int rc = real_posix_spawnp ? real_posix_spawnp(pid, file, fa, attr, argv, fixed) : ENOSYS;
  buf_free(&store);
  return rc;
}
