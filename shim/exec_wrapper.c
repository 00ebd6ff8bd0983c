/*
 * elfprefetch-exec PROG [ARGS...]: prefetches PROG's note, or its sidecar when it has none (its
 * own page set and its libraries' sets), and then execs PROG with ARGS and the same environment.
 * It runs before ld.so, which is when prefetching gains most (../shared/research/PREFETCH.md). If
 * prefetching fails it execs anyway; if the exec fails it reports like a shell and exits 127 (not
 * found) or 126.
 *
 * It is linked statically with musl where musl-gcc is there, else with the C library of cc
 * (shim/Makefile): a static glibc's start-up is most of the wrapper's warm cost (docs/SHIM.md,
 * "The exec wrapper's second exec"). So what differs between C libraries is done here, as glibc
 * does it: the PATH search of execvp, the wording of the exec errors, the variables secure mode
 * drops. No stdio either: a message is one writev.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "epf_prefetch.h"

extern char **environ;

/* "elfprefetch-exec: " a b c "\n" on stderr, in one writev (continued if the write is short). */
static void say(const char *a, const char *b, const char *c) {
  struct iovec v[5] = {{"elfprefetch-exec: ", 18}, {(char *)a, strlen(a)}, {(char *)b, strlen(b)}, {(char *)c, strlen(c)}, {"\n", 1}};
  struct iovec *p = v;
  int n = 5;
  while (n > 0) {
    ssize_t w = writev(2, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    while (n > 0 && (size_t)w >= p->iov_len) w -= (ssize_t)p->iov_len, p++, n--;
    if (n > 0) p->iov_base = (char *)p->iov_base + w, p->iov_len -= (size_t)w;
  }
}

/* glibc's wording of what execve can fail with (musl's differs for several); strerror otherwise. */
static const char *exec_error(int e) {
  switch (e) {
  case E2BIG: return "Argument list too long";
  case EACCES: return "Permission denied";
  case EAGAIN: return "Resource temporarily unavailable";
  case EFAULT: return "Bad address";
  case EINVAL: return "Invalid argument";
  case EIO: return "Input/output error";
  case EISDIR: return "Is a directory";
  case ELIBBAD: return "Accessing a corrupted shared library";
  case ELOOP: return "Too many levels of symbolic links";
  case EMFILE: return "Too many open files";
  case ENAMETOOLONG: return "File name too long";
  case ENFILE: return "Too many open files in system";
  case ENOENT: return "No such file or directory";
  case ENOEXEC: return "Exec format error";
  case ENOMEM: return "Cannot allocate memory";
  case ENOTDIR: return "Not a directory";
  case EPERM: return "Operation not permitted";
  case ETXTBSY: return "Text file busy";
  default: return strerror(e);
  }
}

/* The file execvp would run: PROG itself when it has a slash, else the first executable
 * regular file PROG in $PATH (default /bin:/usr/bin, as glibc). */
static const char *resolve(const char *prog, char *buf, size_t cap) {
  if (strchr(prog, '/')) return prog;
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  size_t plen = strlen(prog);
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    if (dlen == 0) { /* an empty entry is the current directory */
      if (plen + 1 <= cap) memcpy(buf, prog, plen + 1);
    } else if (dlen + 1 + plen + 1 <= cap) {
      memcpy(buf, p, dlen);
      buf[dlen] = '/';
      memcpy(buf + dlen + 1, prog, plen + 1);
    } else {
      buf[0] = 0;
    }
    struct stat st;
    if (buf[0] && stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return buf;
    if (!end) return 0;
    p = end;
  }
}

/* glibc's execvp runs a file the kernel refuses as ENOEXEC with /bin/sh (a script without #!):
 * /bin/sh FILE ARGS..., in main's argv (its first two slots, the wrapper's name and PROG, are put
 * back if that fails; no copy of the arguments on the stack). */
static void exec_script(const char *file, char **argv) {
  char *name = argv[0], *prog = argv[1];
  argv[0] = (char *)"/bin/sh";
  argv[1] = (char *)file;
  execve(argv[0], argv, environ);
  argv[0] = name;
  argv[1] = prog;
}

/*
 * execvp(prog, argv) as glibc 2.36 does it, whichever C library this is linked with: each PATH
 * entry (default /bin:/usr/bin; an empty one is the current directory) in turn, on to the next
 * after ENOENT, ESTALE, ENOTDIR, ENODEV, ETIMEDOUT or EACCES (EACCES is then the error if
 * nothing runs), stopping at any other error. `argv` is main's: the program's is argv + 1.
 * Returns only on failure, errno set.
 */
static void exec_search(const char *prog, char **argv) {
  static char buf[PATH_MAX + NAME_MAX + 2];
  if (!prog[0]) {
    errno = ENOENT;
    return;
  }
  /* glibc copies at most NAME_MAX + 1 bytes of the name: a longer one is a component the
   * kernel finds too long (or a missing directory before it). */
  size_t plen = strnlen(prog, NAME_MAX + 1);
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  int eacces = 0;
  for (const char *p = path, *end;; p = end) {
    end = strchrnul(p, ':');
    size_t dlen = (size_t)(end - p);
    if (dlen >= PATH_MAX) { /* skipped; glibc then tries the empty entry at the ':' too */
      if (!*end) break;
      continue;
    }
    memcpy(buf, p, dlen);
    buf[dlen] = '/';
    memcpy(buf + dlen + (dlen > 0), prog, plen);
    buf[dlen + (dlen > 0) + plen] = 0;
    execve(buf, argv + 1, environ);
    if (errno == ENOEXEC) exec_script(buf, argv);
    switch (errno) {
    case EACCES: eacces = 1; /* fall through */
    case ENOENT: case ESTALE: case ENOTDIR: case ENODEV: case ETIMEDOUT: break;
    default: return;
    }
    if (!*end++) break;
  }
  if (eacces) errno = EACCES;
}

#ifndef __GLIBC__
/* What glibc 2.36's start-up removes from a secure-mode (setuid, capabilities) process's
 * environment, so the program gets the same environment from either build. */
static void drop_unsecure(void) {
  static const char *const names[] = {"GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LD_AUDIT", "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_DYNAMIC_WEAK", "LD_HWCAP_MASK", "LD_LIBRARY_PATH", "LD_ORIGIN_PATH", "LD_PRELOAD", "LD_PROFILE", "LD_SHOW_AUXV", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR", "MALLOC_CHECK_"};
  char **w = environ;
  for (char **r = environ; *r; r++) {
    int drop = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names && !drop; i++) {
      size_t n = strlen(names[i]);
      drop = strncmp(*r, names[i], n) == 0 && (*r)[n] == '=';
    }
    if (!drop) *w++ = *r;
  }
  *w = 0;
}
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    static const char usage[] = "usage: elfprefetch-exec PROG [ARGS...]\n";
    ssize_t w = write(2, usage, sizeof usage - 1);
    (void)w;
    return 2;
  }
  const char *prog = argv[1];
  struct epf_options o;
  epf_options_load(&o);
  if (!o.disabled && prog[0]) {
    static char buf[PATH_MAX];
    const char *file = resolve(prog, buf, sizeof buf);
    /* Files prefetched once are not read again when a note names them twice. */
    static struct epf_seen seen;
    /* Each library's descriptor is kept from its first request to its check, not opened twice
     * (at most 64, all closed before the exec): no program code runs here yet. Near its caller's
     * descriptor limit an open fails, and that library is opened again at its check. */
    static struct epf_held held;
    o.held = &held;
    if (file) epf_prefetch_path(file, &o, &seen);
  }
#ifndef __GLIBC__
  if (getauxval(AT_SECURE)) drop_unsecure();
#endif
  if (strchr(prog, '/')) execve(prog, argv + 1, environ);
  else exec_search(prog, argv);
  int e = errno;
  if (e == ENOENT && !strchr(prog, '/')) {
    say(prog, ": command not found", "");
    return 127;
  }
  say(prog, ": ", exec_error(e));
  return e == ENOENT || e == ENOTDIR ? 127 : 126;
}
