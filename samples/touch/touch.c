/*
 * The touch sample: a program whose page use is known from its symbol table. 256 page
 * functions f00..fff (one page of code each, in .text.touch), 64 pages of read-only data
 * (rodata_pages, one page each) and libtouch.so's 64 page functions. The arguments say, in
 * order, what to touch:
 *
 *   f:SPEC       call the functions f<i> for i in SPEC (0-15,20; decimal indices)
 *   d:SPEC       read the first byte of data page i
 *   l:SPEC       call libtouch.so's g<i>
 *   sleep:MS     sleep MS milliseconds
 *   fork:ITEM    fork; the child does ITEM and leaves with _exit(0); wait for it
 *   exec:ITEM    fork and exec this program with ITEM as its argument; wait for it
 *   spawn:ITEM   the same with posix_spawn (vfork semantics)
 *   envexec:ITEM the same with an empty environment (execve(..., {NULL}))
 *   _exit        leave now with _exit(0)
 *
 * It prints "touch ok <checksum>" at the end. samples/touch/build.sh writes truth.json: the
 * file page of every f<i>, data page and g<i>, from nm and readelf.
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "pages.h"

int touch_lib(const char *spec);
extern long touch_lib_sum;
extern char **environ;

#define F(n) TOUCH_PAGE_FN(f, n)
TOUCH_R256(F)
/* A last page function that nothing calls: .fini and whatever follows .text share its page. */
TOUCH_PAGE_FN(fend_, 0)
#define FREF(n) f##n,
static int (*const ftable[256])(int) = {TOUCH_R256(FREF)};

#define DPAGE(n) {0x##n + 1},
__attribute__((aligned(4096))) const unsigned char rodata_pages[64][4096] = {TOUCH_R64(DPAGE)};

static long sum;

static int data_spec(const char *s) {
  while (*s) {
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s) return -1;
    if (*end == '-') hi = strtol(end + 1, &end, 10);
    if (lo < 0 || hi < lo || hi >= 64) return -1;
    for (long i = lo; i <= hi; i++) sum += *(volatile const unsigned char *)&rodata_pages[i][0];
    if (*end && *end != ',') return -1;
    s = *end ? end + 1 : end;
  }
  return 0;
}

static int item(const char *a);

static int child(const char *how, const char *what) {
  char *self = realpath("/proc/self/exe", NULL);
  char *argv[] = {self, (char *)what, NULL};
  char *empty[] = {NULL};
  pid_t pid;
  int status = 0;
  if (!self) return -1;
  if (strcmp(how, "spawn") == 0) {
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0) return -1;
  } else {
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      if (strcmp(how, "fork") == 0) _exit(item(what) == 0 ? 0 : 2);
      if (strcmp(how, "envexec") == 0) execve(self, argv, empty);
      else execv(self, argv);
      _exit(127);
    }
  }
  free(self);
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return 0;
}

static int item(const char *a) {
  if (strncmp(a, "f:", 2) == 0) return (int)touch_spec(a + 2, ftable, 256, &sum);
  if (strncmp(a, "d:", 2) == 0) return data_spec(a + 2);
  if (strncmp(a, "l:", 2) == 0) return touch_lib(a + 2);
  if (strncmp(a, "sleep:", 6) == 0) {
    long ms = atol(a + 6);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 0;
  }
  if (strcmp(a, "_exit") == 0) _exit(0);
  const char *colon = strchr(a, ':');
  if (colon) {
    char how[16];
    size_t n = (size_t)(colon - a);
    if (n < sizeof how) {
      memcpy(how, a, n);
      how[n] = 0;
      if (!strcmp(how, "fork") || !strcmp(how, "exec") || !strcmp(how, "spawn") || !strcmp(how, "envexec")) return child(how, colon + 1);
    }
  }
  return -1;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (item(argv[i]) != 0) {
      fprintf(stderr, "touch: bad or failed item '%s'\n", argv[i]);
      return 2;
    }
  }
  printf("touch ok %ld\n", sum + touch_lib_sum);
  return 0;
}
