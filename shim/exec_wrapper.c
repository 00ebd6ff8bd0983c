/*
 * elfprefetch-exec PROG [ARGS...]: prefetches PROG's note, or its sidecar when it has none (its
 * own page set and its libraries' sets), and then execs PROG with ARGS and the same environment. It runs before ld.so, which is
 * when prefetching gains most (../shared/research/PREFETCH.md). If prefetching fails it execs
 * anyway; if the exec fails it reports like a shell and exits 127 (not found) or 126.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epf_prefetch.h"

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

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: elfprefetch-exec PROG [ARGS...]\n", stderr);
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
    if (file) epf_prefetch_path(file, &o, &seen);
  }
  if (strchr(prog, '/')) execv(prog, argv + 1);
  else execvp(prog, argv + 1);
  int e = errno;
  if (e == ENOENT && !strchr(prog, '/')) {
    fprintf(stderr, "elfprefetch-exec: %s: command not found\n", prog);
    return 127;
  }
  fprintf(stderr, "elfprefetch-exec: %s: %s\n", prog, strerror(e));
  return e == ENOENT || e == ENOTDIR ? 127 : 126;
}
