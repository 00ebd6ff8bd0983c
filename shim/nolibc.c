/*
 * The C library functions the shim core calls, as bare system calls, for the auditor (x86-64 and
 * aarch64 Linux; shim/Makefile, AUDIT_LIBC). ld.so gives an auditor a namespace of its own and
 * loads the auditor's libc into it, relocated and initialised, before la_version runs: about
 * 0.3 ms of every warm start, and the cold pages of that libc faulted in before anything is
 * prefetched (docs/SHIM.md, "The auditor without a C library"). Linked with this file and no
 * libc, the auditor needs only ld.so.
 *
 * The environment and the auxiliary vector are read from the initial stack, which ld.so's
 * __libc_stack_end points to (argc, argv, NULL, envp, NULL, auxv). errno is this file's own:
 * the program's errno is never touched; one for all threads, since the auditor's calls run under
 * ld.so's lock (la_objopen from a dlopen on any thread too). Built with -fno-builtin, and the
 * pragma below for any other build, so that none of these loops is turned into a call to itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "epf_syscall.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#if !defined(__linux__) || !(defined(__x86_64__) && !defined(__ILP32__)) && !defined(__aarch64__)
#error "nolibc.c: x86-64 and aarch64 Linux only (shim/Makefile builds the auditor with libc elsewhere)"
#endif

static int err;
int *__errno_location(void) { return &err; }

/* A system call's result, the libc way: -1 and errno on failure. */
static long sys(long n, long a, long b, long c, long d, long e, long f) {
  long r = epf_raw_syscall(n, a, b, c, d, e, f);
  if (r < 0 && r > -4096) {
    err = (int)-r;
    return -1;
  }
  return r;
}

long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  return sys(n, a, b, c, d, e, f);
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  long mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
  va_end(ap);
  return (int)sys(SYS_openat, AT_FDCWD, (long)path, flags, mode, 0, 0);
}
int close(int fd) { return (int)sys(SYS_close, fd, 0, 0, 0, 0, 0); }
ssize_t read(int fd, void *buf, size_t n) { return sys(SYS_read, fd, (long)buf, (long)n, 0, 0, 0); }
ssize_t write(int fd, const void *buf, size_t n) { return sys(SYS_write, fd, (long)buf, (long)n, 0, 0, 0); }
ssize_t pread(int fd, void *buf, size_t n, off_t off) { return sys(SYS_pread64, fd, (long)buf, (long)n, (long)off, 0, 0); }
ssize_t readlink(const char *path, char *buf, size_t n) { return sys(SYS_readlinkat, AT_FDCWD, (long)path, (long)buf, (long)n, 0, 0); }
int stat(const char *path, struct stat *st) { return (int)sys(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0, 0, 0); }
int lstat(const char *path, struct stat *st) { return (int)sys(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, AT_SYMLINK_NOFOLLOW, 0, 0); }
int fstat(int fd, struct stat *st) { return (int)sys(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH, 0, 0); }
int statfs(const char *path, struct statfs *fs) { return (int)sys(SYS_statfs, (long)path, (long)fs, 0, 0, 0, 0); }
int fstatfs(int fd, struct statfs *fs) { return (int)sys(SYS_fstatfs, fd, (long)fs, 0, 0, 0, 0); }
uid_t geteuid(void) { return (uid_t)sys(SYS_geteuid, 0, 0, 0, 0, 0, 0); }
ssize_t readahead(int fd, off64_t off, size_t n) { return sys(SYS_readahead, fd, (long)off, (long)n, 0, 0, 0); }
int mincore(void *addr, size_t n, unsigned char *vec) { return (int)sys(SYS_mincore, (long)addr, (long)n, (long)vec, 0, 0, 0); }
int munmap(void *addr, size_t n) { return (int)sys(SYS_munmap, (long)addr, (long)n, 0, 0, 0, 0); }
void *mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off) {
  long r = sys(SYS_mmap, (long)addr, (long)n, prot, flags, fd, (long)off);
  return r == -1 ? MAP_FAILED : (void *)r;
}
/* posix_fadvise returns the error number instead of setting errno. */
int posix_fadvise(int fd, off_t off, off_t len, int advice) {
#ifdef SYS_fadvise64
  long r = epf_raw_syscall(SYS_fadvise64, fd, (long)off, (long)len, advice, 0, 0);
#else
  long r = epf_raw_syscall(SYS_fadvise64_64, fd, (long)off, (long)len, advice, 0, 0);
#endif
  return r < 0 ? (int)-r : 0;
}

/* The initial stack, where ld.so found argc (glibc's rtld sets it before any auditor loads). */
extern void *__libc_stack_end;

static char **environment(void) {
  long *sp = __libc_stack_end;
  if (!sp || sp[0] < 0) return 0;
  return (char **)(sp + 1 + sp[0] + 1);
}

/*
 * In secure mode ld.so has unset the unsafe variables (LD_AUDIT among them) by moving the later
 * pointers down, which leaves more than one NULL before the auxiliary vector; a program's own
 * unsetenv does the same. The vector's first type is never AT_NULL, so every NULL is passed.
 * AT_SECURE not found counts as secure: the environment is then not trusted.
 */
unsigned long getauxval(unsigned long type) {
  char **e = environment();
  if (e) {
    while (*e) e++;
    while (!*e) e++;
    for (unsigned long *a = (unsigned long *)e; a[0] != AT_NULL; a += 2)
      if (a[0] == type) return a[1];
  }
  err = ENOENT;
  return type == AT_SECURE;
}

/* libgcc's outline atomics (aarch64) ask it which instructions the CPU has, at load. */
unsigned long __getauxval(unsigned long type) { return getauxval(type); }

char *getenv(const char *name) {
  char **e = environment();
  if (!e) return 0;
  for (; *e; e++) {
    const char *a = name, *b = *e;
    while (*a && *a == *b) a++, b++;
    if (!*a && *b == '=') return (char *)b + 1;
  }
  return 0;
}

long sysconf(int name) {
  if (name == _SC_PAGESIZE) return (long)getauxval(AT_PAGESZ);
  err = EINVAL;
  return -1;
}

void *memcpy(void *d, const void *s, size_t n) {
  unsigned char *a = d;
  const unsigned char *b = s;
  while (n--) *a++ = *b++;
  return d;
}
void *memset(void *d, int c, size_t n) {
  unsigned char *a = d;
  while (n--) *a++ = (unsigned char)c;
  return d;
}
int memcmp(const void *x, const void *y, size_t n) {
  const unsigned char *a = x, *b = y;
  for (; n; n--, a++, b++)
    if (*a != *b) return *a - *b;
  return 0;
}
size_t strlen(const char *s) {
  const char *p = s;
  while (*p) p++;
  return (size_t)(p - s);
}
int strcmp(const char *x, const char *y) {
  const unsigned char *a = (const unsigned char *)x, *b = (const unsigned char *)y;
  while (*a && *a == *b) a++, b++;
  return *a - *b;
}
char *strchr(const char *s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char *)s;
    if (!*s) return 0;
  }
}
char *strstr(const char *h, const char *n) {
  size_t k = strlen(n);
  for (; *h; h++)
    if (memcmp(h, n, k) == 0) return (char *)h;
  return k ? 0 : (char *)h;
}
