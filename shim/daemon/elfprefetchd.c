/*
 * elfprefetchd: prefetches the page sets of every program exec'd on the watched file systems,
 * from its elfprefetch note or sidecar, through the shim's core (docs/DAEMON.md, elfprefetchd(8)).
 * By default it listens to fanotify's FAN_OPEN_EXEC notification events, which the kernel never
 * waits for: a stopped, slow or killed daemon cannot hold up anyone's exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "service.h"

static const char usage[] =
    "usage: elfprefetchd [--config FILE] [--foreground] [--verbose]\n"
    "       elfprefetchd --check-config [--config FILE]\n"
    "Prefetches the pages of each program exec'd on the watched file systems from its\n"
    "elfprefetch note or sidecar. See elfprefetchd(8).\n";

struct args {
  const char *config;
  int config_given, foreground, verbose, check;
};

static int parse_args(int argc, char **argv, struct args *a) {
  memset(a, 0, sizeof *a);
  a->config = EPFD_DEFAULT_CONFIG;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "--foreground") || !strcmp(s, "-f")) a->foreground = 1;
    else if (!strcmp(s, "--verbose") || !strcmp(s, "-v")) a->verbose = 1;
    else if (!strcmp(s, "--check-config")) a->check = 1;
    else if (!strcmp(s, "--config") && i + 1 < argc) a->config = argv[++i], a->config_given = 1;
    else if (!strncmp(s, "--config=", 9)) a->config = s + 9, a->config_given = 1;
    else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      fputs(usage, stdout);
      exit(0);
    } else {
      fprintf(stderr, "elfprefetchd: unknown argument \"%s\"\n%s", s, usage);
      return -1;
    }
  }
  return 0;
}

/* The configuration file; a missing default file means the defaults (an explicit one must exist). */
static int load_config(const struct args *a, struct epfd_config *c) {
  char err[1200];
  epfd_config_defaults(c);
  struct stat st;
  if (!a->config_given && lstat(a->config, &st) != 0 && errno == ENOENT) {
    epfd_log(LOG_INFO, "%s: not there, using the defaults", a->config);
    return 0;
  }
  if (epfd_config_load(c, a->config, err, sizeof err) != 0) {
    epfd_log(LOG_ERR, "%s", err);
    return -1;
  }
  return 0;
}

static void describe(const struct epfd_config *c, const struct epfd_listener *l) {
  char where[2048];
  size_t n = 0;
  where[0] = 0;
  for (unsigned i = 0; i < c->marks && n < sizeof where; i++)
    n += (size_t)snprintf(where + n, sizeof where - n, "%s%s %s", i ? ", " : "", c->mark[i].mount ? "the mount" : "the file system of", c->mark[i].path);
  epfd_log(LOG_INFO, "watching execs on %s with %s events; sidecars %s%s; set %s; at most %llu bytes per exec, %llu bytes/s (burst %llu)",
           where, l->mode == EPFD_PERMISSION ? "permission" : "notification", c->sidecar[0] ? "in " : "", c->sidecar[0] ? c->sidecar : "off", c->set,
           (unsigned long long)c->max_bytes_per_exec, (unsigned long long)c->bytes_per_second, (unsigned long long)c->burst_bytes);
  if (c->ignore_unstamped)
    epfd_log(LOG_INFO, "files with nothing to prefetch are ignored after one look, for up to %u s", c->ignore_seconds);
  if (c->recheck_seconds)
    epfd_log(LOG_INFO, "a stamped program handled is not looked at again for %u s", c->recheck_seconds);
  if (l->mode == EPFD_PERMISSION)
    epfd_log(LOG_WARNING, "permission mode: while this daemon is stopped (SIGSTOP, a debugger), every exec on these file systems waits for it; "
                          "the kernel has no timeout (see elfprefetchd(8))");
}

/* Leaves the terminal: the parent exits once the child is listening, so errors before it are seen. */
static void daemonize(void) {
  pid_t pid = fork();
  if (pid < 0) {
    epfd_log(LOG_ERR, "fork: %s", strerror(errno));
    exit(1);
  }
  if (pid > 0) _exit(0);
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  epfd_log_to_syslog();
}

/*
 * A directory the daemon uses (the sidecar directory, the note cache's), made 0755 with its
 * parents if missing: the core checks once whether the sidecar directory exists, so one made
 * after the daemon started would not be seen until the ignore marks are next forgotten.
 */
static void make_dir(const char *dir, const char *what) {
  struct stat st;
  if (!dir[0] || stat(dir, &st) == 0) return;
  char p[EPF_MAX_SIDECAR_DIR + 1];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0755) == 0) chmod(p, 0755);
    else if (errno != EEXIST) {
      epfd_log(LOG_WARNING, "cannot make the %s %s: %s", what, p, strerror(errno));
      return;
    }
    if (!c) break;
    *s = c;
  }
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* When a changed note cache is written out (and at stop): a minute after it changed, in a quiet second. */
#define NOTES_SAVE_MS 60000u
#define NOTES_QUIET_MS 1000u

/* The note cache's directory (0755), made if missing, like the sidecar directory's. */
static void make_parent_dir(const char *file) {
  char dir[EPFD_MAX_MARK_PATH + 1];
  snprintf(dir, sizeof dir, "%s", file);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return;
  *slash = 0;
  make_dir(dir, "note cache's directory");
}

static void load_notes(struct epfd_note_cache *notes, const struct epfd_config *c) {
  char err[1400];
  if (!c->note_cache_on || !c->note_cache[0]) return;
  make_parent_dir(c->note_cache);
  if (epfd_notes_load(notes, c->note_cache, err, sizeof err) != 0) epfd_log(LOG_WARNING, "%s", err);
  else if (notes->count) epfd_log(LOG_INFO, "note cache %s: %u notes (%llu bytes)", c->note_cache, notes->count, (unsigned long long)notes->bytes);
}

static void save_notes(struct epfd_note_cache *notes, const struct epfd_config *c) {
  char err[1400];
  if (!c->note_cache_on || !c->note_cache[0]) { /* in memory only: nothing to write, ever */
    notes->dirty = 0;
    notes->libs.dirty = 0;
    return;
  }
  if (!epfd_notes_changed(notes)) return;
  if (epfd_notes_save(notes, c->note_cache, err, sizeof err) != 0) epfd_log(LOG_WARNING, "%s", err);
}

int main(int argc, char **argv) {
  struct args a;
  if (parse_args(argc, argv, &a) != 0) return 2;
  struct epfd_config c;
  if (a.check) {
    if (load_config(&a, &c) != 0) return 1;
    printf("%s: ok\n", a.config);
    return 0;
  }
  if (geteuid() != 0) {
    epfd_log(LOG_ERR, "must run as root: fanotify needs CAP_SYS_ADMIN, and reading every program CAP_DAC_READ_SEARCH");
    return 1;
  }
  if (load_config(&a, &c) != 0) return 1;
  make_dir(c.sidecar, "sidecar directory");
  /* No supplementary groups: files are read as root or, for other owners' programs, as their owner. */
  if (setgroups(0, 0) != 0) epfd_log(LOG_WARNING, "setgroups: %s", strerror(errno));
  /* With notification events: SCHED_BATCH, so its wake-ups never preempt the programs it serves
   * (on a busy machine that was most of its cost per exec), and a low nice value. With permission
   * events every exec waits for it, so it keeps the normal priority: starved at nice 19 on a
   * loaded machine, it slowed every exec down. Its reads keep their normal I/O priority. */
  if (c.mode == EPFD_NOTIFY) {
    struct sched_param sp = {0};
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0) epfd_log(LOG_WARNING, "SCHED_BATCH: %s", strerror(errno));
    if (setpriority(PRIO_PROCESS, 0, c.nice) != 0) epfd_log(LOG_WARNING, "nice %d: %s", c.nice, strerror(errno));
  }
  /* Each event read carries a descriptor (up to a batch of 256), each library one while it is
   * checked: a permission event whose descriptor the kernel cannot create is denied, so the soft
   * limit goes up to the hard one (at most 65536) instead of staying at the usual 1024. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max < 65536 ? nofile.rlim_max : 65536;
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) epfd_log(LOG_WARNING, "RLIMIT_NOFILE: %s", strerror(errno));
  }
  umask(077);
  if (chdir("/") != 0) epfd_log(LOG_WARNING, "chdir /: %s", strerror(errno));

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, 0);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    epfd_log(LOG_ERR, "signalfd: %s", strerror(errno));
    return 1;
  }

  char err[1200];
  /* Loaded before listening: in permission mode execs would wait for this read. */
  static struct epfd_note_cache notes;
  epfd_notes_init(&notes, c.note_cache_bytes);
  load_notes(&notes, &c);
  struct epfd_listener l;
  if (epfd_listen(&l, &c, a.verbose, err, sizeof err) != 0) {
    epfd_log(LOG_ERR, "%s", err);
    return 1;
  }
  epfd_use_notes(&l, c.note_cache_on ? &notes : 0);
  uint64_t dirty_since = 0, last_event = 0; /* when the cache first changed since saved; the last events */
  if (!a.foreground) daemonize();
  describe(&c, &l);
  epfd_notify("READY=1");

  int watchdog = epfd_watchdog_ms();
  uint64_t pinged = now_ms();
  int status = 0;
  for (;;) {
    struct pollfd p[2] = {{l.fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    int timeout = epfd_tick(&l);
    if (watchdog && (timeout < 0 || watchdog / 2 < timeout)) timeout = watchdog / 2;
    /* A changed cache is written a minute after its first change, once no exec has come for a
     * second: never in the middle of the burst of execs that changed it. */
    if (epfd_notes_changed(&notes)) {
      uint64_t t = now_ms();
      if (!dirty_since) dirty_since = t;
      uint64_t due = dirty_since + NOTES_SAVE_MS > last_event + NOTES_QUIET_MS ? dirty_since + NOTES_SAVE_MS : last_event + NOTES_QUIET_MS;
      if (t >= due) {
        save_notes(&notes, &c);
        dirty_since = 0;
      } else if (timeout < 0 || due - t < (uint64_t)timeout) {
        timeout = (int)(due - t) + 1;
      }
    }
    int r = poll(p, 2, timeout);
    if (r < 0 && errno != EINTR) {
      epfd_log(LOG_ERR, "poll: %s", strerror(errno));
      status = 1;
      break;
    }
    if (watchdog && now_ms() - pinged >= (uint64_t)watchdog / 2) {
      epfd_notify("WATCHDOG=1");
      pinged = now_ms();
    }
    if (r > 0 && (p[0].revents & POLLIN)) {
      last_event = now_ms();
      if (epfd_handle_events(&l, err, sizeof err) != 0) {
        epfd_log(LOG_ERR, "%s", err);
        status = 1;
        break;
      }
    }
    if (r > 0 && (p[1].revents & POLLIN)) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
      if (si.ssi_signo != SIGHUP) {
        epfd_log(LOG_INFO, "signal %u: stopping", si.ssi_signo);
        break;
      }
      /* Reload: the new group is listening before the old one is closed, so no exec is missed. */
      epfd_notify("RELOADING=1");
      struct epfd_config nc;
      struct epfd_listener nl;
      if (load_config(&a, &nc) != 0) {
        epfd_log(LOG_WARNING, "reload failed: keeping the previous configuration");
      } else if (epfd_listen(&nl, &nc, a.verbose, err, sizeof err) != 0) {
        epfd_log(LOG_WARNING, "reload failed (%s): keeping the previous configuration", err);
      } else {
        nl.stats = l.stats;
        epfd_close(&l);
        int other_file = nc.note_cache_on != c.note_cache_on || strcmp(nc.note_cache, c.note_cache) != 0;
        if (other_file) { /* the old file gets what was kept for it; the new one is read */
          save_notes(&notes, &c);
          epfd_notes_free(&notes);
          dirty_since = 0;
        }
        l = nl;
        c = nc;
        notes.max_bytes = c.note_cache_bytes; /* a smaller bound evicts at the next note kept */
        if (other_file) load_notes(&notes, &c);
        epfd_use_notes(&l, c.note_cache_on ? &notes : 0);
        epfd_log(LOG_INFO, "reloaded %s", a.config);
        describe(&c, &l);
      }
      epfd_notify("READY=1");
    }
  }
  epfd_notify("STOPPING=1");
  epfd_close(&l);
  save_notes(&notes, &c);
  epfd_log(LOG_INFO, "%llu execs seen, %llu prefetched (%llu files), %llu left alone over the I/O budget, %llu queue overflows, %llu files ignored, %llu notes from the note cache, %llu programs rested, %llu execs of resting programs let through",
           (unsigned long long)l.stats.events, (unsigned long long)l.stats.prefetched, (unsigned long long)l.stats.files,
           (unsigned long long)l.stats.over_budget, (unsigned long long)l.stats.overflows, (unsigned long long)l.stats.ignored,
           (unsigned long long)l.stats.known, (unsigned long long)l.stats.resting, (unsigned long long)l.stats.rest_let);
  return status;
}
