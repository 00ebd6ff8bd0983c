/*
 * System calls without libc's wrappers. Two reasons: the recorder's own work maps no page of libc
 * that the program did not touch itself, and every path that may run in a signal handler, a fork
 * child or the window thread (which has no libc thread state of its own) needs calls that take no
 * lock, set no errno and keep no state in user space. They return -errno on failure.
 * On machines other than x86-64 and aarch64 they go through syscall(2), which sets errno (so
 * there is no window thread there: recording.h).
 */
#ifndef RECORDER_SYS_H
#define RECORDER_SYS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../shim/epf_syscall.h"

#if EPF_RAW_SYSCALLS
#define RAW_SYSCALLS 1
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) { return epf_raw_syscall(n, a, b, c, d, e, f); }
#else
#define RAW_SYSCALLS 0
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) {
  long r = syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
#endif
#define RS(n, a, b, c, d, e, f) rsys((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static inline int r_open(const char *path, int flags, int mode) { return (int)RS(SYS_openat, AT_FDCWD, path, flags, mode, 0, 0); }
static inline long r_read(int fd, void *b, size_t n) { return RS(SYS_read, fd, b, n, 0, 0, 0); }
static inline long r_pread(int fd, void *b, size_t n, uint64_t off) { return RS(SYS_pread64, fd, b, n, off, 0, 0); }
static inline long r_write(int fd, const void *b, size_t n) { return RS(SYS_write, fd, b, n, 0, 0, 0); }
static inline int r_close(int fd) { return (int)RS(SYS_close, fd, 0, 0, 0, 0, 0); }
static inline void *r_mmap(size_t n) {
  long r = RS(SYS_mmap, 0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
static inline void *r_mremap(void *p, size_t old, size_t n) {
  long r = RS(SYS_mremap, p, old, n, MREMAP_MAYMOVE, 0, 0);
  return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
static inline int r_munmap(void *p, size_t n) { return (int)RS(SYS_munmap, p, n, 0, 0, 0, 0); }
static inline int r_madvise(uint64_t p, uint64_t n, int advice) { return (int)RS(SYS_madvise, p, n, advice, 0, 0, 0); }
static inline int r_ioctl(int fd, unsigned long req, void *arg) { return (int)RS(SYS_ioctl, fd, req, arg, 0, 0, 0); }
static inline int r_fcntl(int fd, int cmd, long arg) { return (int)RS(SYS_fcntl, fd, cmd, arg, 0, 0, 0); }
static inline pid_t r_getpid(void) { return (pid_t)RS(SYS_getpid, 0, 0, 0, 0, 0, 0); }
static inline pid_t r_getppid(void) { return (pid_t)RS(SYS_getppid, 0, 0, 0, 0, 0, 0); }
static inline pid_t r_gettid(void) { return (pid_t)RS(SYS_gettid, 0, 0, 0, 0, 0, 0); }
static inline long r_readlink(const char *path, char *b, size_t n) { return RS(SYS_readlinkat, AT_FDCWD, path, b, n, 0, 0); }
static inline int r_rename(const char *a, const char *b) { return (int)RS(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 0, 0); }
static inline int r_unlink(const char *path) { return (int)RS(SYS_unlinkat, AT_FDCWD, path, 0, 0, 0, 0); }
static inline int r_nofile(struct rlimit *rl) { return (int)RS(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, rl, 0, 0); }
static inline int r_userfaultfd(int flags) { return (int)RS(SYS_userfaultfd, flags, 0, 0, 0, 0, 0); }
static inline int r_clock_gettime(struct timespec *ts) { return (int)RS(SYS_clock_gettime, CLOCK_MONOTONIC, ts, 0, 0, 0, 0); }
static inline int r_sleep_until(const struct timespec *ts) { return (int)RS(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, ts, 0, 0, 0); }
static inline int r_sleep(const struct timespec *ts) { return (int)RS(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, ts, 0, 0, 0); }
/* The kernel's sigset is 8 bytes (glibc's sigset_t is larger; only the first 8 bytes count). */
static inline int r_sigmask(int how, const void *set, void *old) { return (int)RS(SYS_rt_sigprocmask, how, set, old, 8, 0, 0); }
/* Copies n bytes of our own memory; fails (EFAULT) instead of faulting on an address gone bad. */
static inline long r_copy(void *to, const void *from, size_t n) {
  struct iovec local = {to, n}, remote = {(void *)from, n};
  return RS(SYS_process_vm_readv, r_getpid(), &local, 1, &remote, 1, 0);
}
__attribute__((noreturn)) static inline void r_exit_group(int status) {
  for (;;) RS(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  r_clock_gettime(&ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
