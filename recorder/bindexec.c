/*
 * elfprefetch-bindexec: runs a command in a private mount namespace where each named file is
 * replaced by a copy (bind mount), so the command loads the copies under their usual paths.
 * `elfprefetch record --method exact` puts the copies on a freshly mounted loop device with
 * read-ahead off, so each page the command touches is read from the device once, and traces
 * those reads (docs/RECORDING.md). One process does every mount and then execs: a mount(8)
 * per file would itself load the copies of libc and ld.so and warm them.
 *
 *   elfprefetch-bindexec COPY TARGET [COPY TARGET ...] -- CMD [ARGS...]
 *
 * Needs CAP_SYS_ADMIN. Exit status 126 when the namespace or a mount fails, 127 when the
 * command cannot be executed, else the command's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int sep = -1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      sep = i;
      break;
    }
  if (sep < 0 || (sep - 1) % 2 != 0 || sep + 1 >= argc) {
    fprintf(stderr, "usage: elfprefetch-bindexec COPY TARGET [COPY TARGET ...] -- CMD [ARGS...]\n");
    return 126;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "elfprefetch-bindexec: unshare(CLONE_NEWNS): %s (needs root)\n", strerror(errno));
    return 126;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr, "elfprefetch-bindexec: making / private: %s\n", strerror(errno));
    return 126;
  }
  for (int i = 1; i < sep; i += 2) {
    if (mount(argv[i], argv[i + 1], NULL, MS_BIND, NULL) != 0) {
      fprintf(stderr, "elfprefetch-bindexec: bind %s over %s: %s\n", argv[i], argv[i + 1], strerror(errno));
      return 126;
    }
  }
  execvp(argv[sep + 1], argv + sep + 1);
  fprintf(stderr, "elfprefetch-bindexec: %s: %s\n", argv[sep + 1], strerror(errno));
  return 127;
}
