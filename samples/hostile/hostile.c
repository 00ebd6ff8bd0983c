/*
 * Programs that are hard on a recorder living inside them (recorder/record.c): each mode ends
 * with _exit in a place where only async-signal-safe code may run, or while another thread holds
 * one of ld.so's locks for good. `elfprefetch record` must see each one through and still write
 * its results (spec/record-hostile.spec.ts).
 *
 *   hostile sigexit           a signal handler calls _exit while the program runs
 *   hostile sigexit-atexit    a timer signal whose handler calls _exit keeps firing while the
 *                             process is already ending (so it lands in the exit-time snapshot)
 *   hostile dlopen-exit LIB   _exit while another thread is inside dlopen(LIB) (LIB's
 *                             constructor never returns: libhold.c)
 *   hostile iterate-exit      _exit while another thread is inside dl_iterate_phdr
 *   hostile vfork-exec LIB    vfork + execvp of `hostile child` while another thread is inside dlopen
 *   hostile fork-mt           fork while another thread is inside dl_iterate_phdr; the child works
 *                             and ends with _exit
 *   hostile spawn LIB         posix_spawnp of `hostile child` while another thread is inside dlopen
 *   hostile child             touches a little and ends with exit(0)
 *
 * The program finds itself for `child` through PATH (execvp, posix_spawnp), so run it with its
 * directory on PATH. It prints one line saying what it did. HOSTILE_LINGER_MS=N: the modes with a
 * child, and fork-mt's child, wait N ms before their _exit (so a recording window ends first).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int ready[2];
static volatile sig_atomic_t ending;

static void die(const char *what) {
  perror(what);
  _exit(2);
}

/* Work that touches a few pages of the program and of libc. */
static unsigned long work(void) {
  char buf[256];
  unsigned long sum = 0;
  for (int i = 0; i < 64; i++) {
    snprintf(buf, sizeof buf, "%d %s", i, getenv("PATH") ? "path" : "none");
    sum += strlen(buf);
  }
  return sum;
}

static void wait_ready(void) {
  char c;
  if (read(ready[0], &c, 1) != 1) die("read");
}

/* ---- threads that keep one of ld.so's locks ---- */

static void *hold_dlopen(void *lib) {
  if (!dlopen(lib, RTLD_NOW)) fprintf(stderr, "dlopen: %s\n", dlerror());
  return NULL;
}

static int keep_iterating(struct dl_phdr_info *info, size_t size, void *data) {
  (void)info, (void)size, (void)data;
  (void)!write(ready[1], "i", 1);
  for (;;) pause();
  return 0;
}

static void *hold_iterate(void *arg) {
  (void)arg;
  dl_iterate_phdr(keep_iterating, NULL);
  return NULL;
}

/* Starts a thread that stays inside dlopen (lib given) or dl_iterate_phdr, and waits until it is there. */
static void hold_loader(const char *lib) {
  pthread_t t;
  char fd[16];
  if (pipe(ready)) die("pipe");
  snprintf(fd, sizeof fd, "%d", ready[1]);
  setenv("HOLD_FD", fd, 1);
  if (pthread_create(&t, NULL, lib ? hold_dlopen : hold_iterate, (void *)lib)) die("pthread_create");
  wait_ready();
}

static void linger(void) {
  const char *ms = getenv("HOSTILE_LINGER_MS");
  if (ms) usleep((useconds_t)atoi(ms) * 1000);
}

static int child_status(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) die("waitpid");
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits for the child, says how it ended, and ends with its status through _exit. */
__attribute__((noreturn)) static void end_after_child(const char *mode, pid_t pid) {
  int st = child_status(pid);
  printf("%s child %d\n", mode, st);
  fflush(stdout);
  linger();
  _exit(st);
}

/* ---- the modes ---- */

static void on_signal_exit(int sig) {
  (void)sig;
  _exit(0);
}

static void on_timer(int sig) {
  (void)sig;
  if (ending) _exit(0);
}

/* The program's destructor runs just before the recorder's (destructors run in reverse order
 * of initialisation, and LD_PRELOAD libraries are initialised before the program). */
__attribute__((destructor)) static void now_ending(void) {
  if (!getenv("HOSTILE_TIMER")) return;
  ending = 1;
  struct itimerval it = {{0, 20}, {0, 20}};
  setitimer(ITIMER_REAL, &it, NULL);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const char *lib = argc > 2 ? argv[2] : NULL;
  unsigned long w = work();
  if (!strcmp(mode, "child")) {
    printf("child %lu\n", w);
    exit(0);
  }
  if (!strcmp(mode, "sigexit")) {
    signal(SIGUSR1, on_signal_exit);
    printf("sigexit %lu\n", w);
    fflush(stdout);
    raise(SIGUSR1);
    return 1; /* not reached */
  }
  if (!strcmp(mode, "sigexit-atexit")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timer;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    setenv("HOSTILE_TIMER", "1", 1);
    printf("sigexit-atexit %lu\n", w);
    fflush(stdout);
    exit(1); /* the timer's handler ends it with status 0 */
  }
  if (!strcmp(mode, "dlopen-exit") || !strcmp(mode, "iterate-exit")) {
    hold_loader(lib);
    printf("%s %lu\n", mode, w);
    fflush(stdout);
    _exit(0);
  }
  if (!strcmp(mode, "vfork-exec")) {
    hold_loader(lib);
    pid_t pid = vfork();
    if (pid < 0) die("vfork");
    if (pid == 0) {
      char *args[] = {"hostile", "child", NULL};
      execvp("hostile", args);
      _exit(127);
    }
    end_after_child(mode, pid);
  }
  if (!strcmp(mode, "spawn")) {
    hold_loader(lib);
    char *args[] = {"hostile", "child", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "hostile", NULL, NULL, args, environ);
    if (rc) {
      fprintf(stderr, "posix_spawnp: %s\n", strerror(rc));
      _exit(2);
    }
    end_after_child(mode, pid);
  }
  if (!strcmp(mode, "fork-mt")) {
    hold_loader(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      char line[64];
      int n = snprintf(line, sizeof line, "fork child %lu\n", work());
      (void)!write(1, line, (size_t)n);
      linger();
      _exit(0);
    }
    end_after_child(mode, pid);
  }
  fprintf(stderr, "usage: hostile sigexit|sigexit-atexit|dlopen-exit LIB|iterate-exit|vfork-exec LIB|fork-mt|spawn LIB|child\n");
  return 2;
}
