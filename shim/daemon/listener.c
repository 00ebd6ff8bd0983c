/* elfprefetchd's fanotify listener: see listener.h and docs/DAEMON.md. */
#define _GNU_SOURCE
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <syslog.h>

#include "../epf_devclass.h"
#include "checked.h"
#include "service.h"

#ifndef FAN_OPEN_EXEC
#define FAN_OPEN_EXEC 0x00001000
#endif
#ifndef FAN_OPEN_EXEC_PERM
#define FAN_OPEN_EXEC_PERM 0x00040000
#endif
#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x00000100
#endif
#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
/* Ignore marks kept at once: each one is an fsnotify mark (a few hundred bytes of kernel memory,
 * counted against fanotify's max_user_marks); past this they are all forgotten and start again. */
#define MAX_IGNORING 8192u

/* Events read at once: a batch is handled before signals are looked at again. */
#define BATCH_BYTES (256 * sizeof(struct fanotify_event_metadata))
/* Below this the shared budget counts as spent: an exec then costs one fstat and a close. */
#define MIN_TOKENS (64u << 10)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mark_all(int fd, const struct epfd_config *c, uint64_t mask, char *err, unsigned errlen) {
  for (unsigned i = 0; i < c->marks; i++) {
    const struct epfd_mark *m = &c->mark[i];
    unsigned flags = FAN_MARK_ADD | (m->mount ? FAN_MARK_MOUNT : FAN_MARK_FILESYSTEM);
    if (fanotify_mark(fd, flags, mask, AT_FDCWD, m->path) != 0) {
      snprintf(err, errlen, "cannot watch execs on the %s of %s: %s", m->mount ? "mount" : "file system", m->path, strerror(errno));
      return -1;
    }
  }
  return 0;
}

static int open_group(enum epfd_mode mode, const struct epfd_config *c, char *err, unsigned errlen) {
  unsigned cls = mode == EPFD_PERMISSION ? FAN_CLASS_CONTENT : FAN_CLASS_NOTIF;
  /* Not FAN_UNLIMITED_QUEUE: when the daemon falls behind, the kernel drops events (and says
   * so with FAN_Q_OVERFLOW) instead of keeping an unbounded backlog of reads to do. */
  int fd = fanotify_init(cls | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
  if (fd < 0) {
    if (errno == EPERM) snprintf(err, errlen, "fanotify_init: %s (elfprefetchd needs CAP_SYS_ADMIN: run it as root)", strerror(errno));
    else snprintf(err, errlen, "fanotify_init: %s (a kernel without fanotify?)", strerror(errno));
    return -1;
  }
  if (mark_all(fd, c, mode == EPFD_PERMISSION ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC, err, errlen) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* What is known of each device (its class and request cap, its file system's id): device numbers
 * are reused, and a loop device can be attached to another file. */
static void forget_devices(void) {
  epf_devclass_forget();
  epfd_file_key_forget();
}

int epfd_listen(struct epfd_listener *l, const struct epfd_config *c, int verbose, char *err, unsigned errlen) {
  memset(l, 0, sizeof *l);
  l->mode = c->mode;
  l->fd = open_group(c->mode, c, err, errlen);
  if (l->fd < 0 && c->mode == EPFD_PERMISSION) {
    /* Kernels without CONFIG_FANOTIFY_ACCESS_PERMISSIONS or older than 5.0 refuse the mark. */
    epfd_log(LOG_WARNING, "permission events unavailable (%s): falling back to notification events", err);
    l->mode = EPFD_NOTIFY;
    l->fd = open_group(EPFD_NOTIFY, c, err, errlen);
  }
  if (l->fd < 0) return -1;
  /* The shim's options, set from the configuration instead of the environment. */
  memcpy(l->o.set, c->set, strlen(c->set) + 1);
  l->o.set_len = strlen(c->set);
  l->o.device = c->device;
  memcpy(l->o.sidecar, c->sidecar, strlen(c->sidecar) + 1);
  l->o.debug = verbose;
  l->o.skip_resident = c->skip_resident;
  l->o.residency = c->residency; /* it was never set (0): every warm exec issued its whole sets again */
  static struct epf_held held;      /* one exec at a time */
  l->o.held = &held;
  l->o.checked_before = epfd_checked_before;
  l->o.checked = epfd_checked_keep;
  epfd_use_notes(l, 0);
  l->max_bytes_per_exec = c->max_bytes_per_exec;
  l->bytes_per_second = c->bytes_per_second;
  l->burst_bytes = c->burst_bytes;
  l->tokens = c->burst_bytes;
  l->refilled_ns = now_ns();
  l->verbose = verbose;
  l->ignore = c->ignore_unstamped;
  l->evictable = 1;
  l->ignore_ns = (uint64_t)c->ignore_seconds * 1000000000ull;
  l->ignored_since_ns = now_ns();
  l->rest_ns = (uint64_t)c->recheck_seconds * 1000000000ull;
  l->marks = c->marks;
  for (unsigned i = 0; i < c->marks; i++) {
    struct stat st;
    memcpy(l->mark_path[i], c->mark[i].path, sizeof l->mark_path[i]);
    l->mark_dev[i] = stat(c->mark[i].path, &st) == 0 ? (uint64_t)st.st_dev : UINT64_MAX;
  }
  forget_devices(); /* a reload looks at each device again */
  return 0;
}

/* Drops every ignore mark (the group's only inode marks), so each file is looked at again. */
static void forget_ignored(struct epfd_listener *l) {
  if ((l->ignoring || l->resting) && fanotify_mark(l->fd, FAN_MARK_FLUSH, 0, AT_FDCWD, 0) != 0 && l->verbose)
    epfd_log(LOG_DEBUG, "forgetting the ignore marks: %s", strerror(errno));
  l->resting = 0; /* the flush took their marks too */
  l->rest_first = 0;
  l->ignoring = 0;
  l->ignored_since_ns = now_ns();
  epf_recheck_sidecar_dir();
  forget_devices();
}

/*
 * Asks the kernel not to report execs of the file at fd any more: it has nothing to prefetch.
 * The mark is on the inode and ignores our exec event only; the kernel removes it when the file
 * is modified (no FAN_MARK_IGNORED_SURV_MODIFY), so a note written in place is seen.
 */
static uint64_t exec_mask(const struct epfd_listener *l) { return l->mode == EPFD_PERMISSION ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC; }

static int place_ignore_mark(struct epfd_listener *l, int fd) {
  unsigned flags = FAN_MARK_ADD | FAN_MARK_IGNORED_MASK;
  int r = fanotify_mark(l->fd, flags | (l->evictable ? FAN_MARK_EVICTABLE : 0), exec_mask(l), fd, 0);
  if (r != 0 && l->evictable && errno == EINVAL) {
    /* Before 5.19: a mark that pins the inode; MAX_IGNORING bounds how many. */
    l->evictable = 0;
    r = fanotify_mark(l->fd, flags, exec_mask(l), fd, 0);
  }
  return r;
}

static void ignore_file(struct epfd_listener *l, int fd, const char *label) {
  if (l->ignoring >= MAX_IGNORING) forget_ignored(l);
  int r = place_ignore_mark(l, fd);
  if (r != 0) {
    if (l->verbose) epfd_log(LOG_DEBUG, "%s: cannot ignore it (%s)", label, strerror(errno));
    return;
  }
  l->ignoring++;
  l->stats.ignored++;
  if (l->verbose) epfd_log(LOG_DEBUG, "%s: nothing to prefetch, its execs are ignored from now on", label);
}

/*
 * Ends the rest of the oldest resting program: the kernel reports its execs again. The file is
 * opened by its handle beneath the watched path of its file system (no name is walked, so no
 * one can swap one in) and the mark taken off; the mark may be gone already (the file was
 * written, or all marks were forgotten). A deleted file has nothing left to report.
 */
static void end_rest(struct epfd_listener *l) {
  struct epfd_resting *e = &l->rest[l->rest_first];
  int dir = open(l->mark_path[e->mark], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (dir >= 0) {
    int fd = open_by_handle_at(dir, &e->fh.h, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == e->dev && (uint64_t)st.st_ino == e->ino)
      fanotify_mark(l->fd, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, exec_mask(l), fd, 0);
    if (fd >= 0) close(fd);
    close(dir);
  }
  l->rest_first = (l->rest_first + 1) % EPFD_MAX_RESTING;
  l->resting--;
}

/* The rest of the file st describes, if it rests (NULL: it does not). */
static struct epfd_resting *resting_entry(struct epfd_listener *l, const struct stat *st) {
  for (unsigned i = 0; i < l->resting; i++) {
    struct epfd_resting *e = &l->rest[(l->rest_first + i) % EPFD_MAX_RESTING];
    if (e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino) return e;
  }
  return 0;
}

/*
 * A stamped program just handled (its sets queued, or found cached): the kernel is asked not to
 * report its execs for recheck-seconds. Its pages were read or found in the page cache a moment
 * ago, so looking again at the next exec, a few milliseconds later in a storm of them, would
 * find them there: the exec would pay for an event and the daemon for a check that cannot do
 * anything. Not for a program in another root or mount namespace: its libraries depend on the
 * view of the process that runs it.
 */
static void rest_file(struct epfd_listener *l, int fd, const struct stat *st, struct epfd_resting *again, const char *label) {
  if (!l->rest_ns) return;
  /* `again`: resting already (handle_exec looked it up). The file was written since (the kernel
   * dropped the mark; an unchanged one's exec is let through at the top of handle_exec). The mark
   * is placed again; the rest ends when it was due to. */
  /* Its handle and the watched file system it is on, to open it again by: a file system that
   * gives no handle (or a larger one), or is not one of those configured, and it does not rest. */
  struct epfd_handle fh;
  unsigned mark = 0;
  if (!again) {
    int mount_id;
    fh.h.handle_bytes = EPFD_HANDLE_BYTES;
    if (name_to_handle_at(fd, "", &fh.h, &mount_id, AT_EMPTY_PATH) != 0) return;
    while (mark < l->marks && l->mark_dev[mark] != (uint64_t)st->st_dev) mark++;
    if (mark == l->marks) return;
  }
  if (!again && l->resting == EPFD_MAX_RESTING) end_rest(l);
  if (place_ignore_mark(l, fd) != 0) {
    if (l->verbose) epfd_log(LOG_DEBUG, "%s: cannot rest it (%s)", label, strerror(errno));
    return;
  }
  l->stats.resting++;
  if (l->verbose) epfd_log(LOG_DEBUG, "%s: handled: its execs are not reported for %llu s", label, (unsigned long long)(l->rest_ns / 1000000000ull));
  if (again) {
    again->ctime_sec = (int64_t)st->st_ctim.tv_sec;
    again->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
    return;
  }
  struct epfd_resting *e = &l->rest[(l->rest_first + l->resting) % EPFD_MAX_RESTING];
  e->ctime_sec = (int64_t)st->st_ctim.tv_sec;
  e->ctime_nsec = (int64_t)st->st_ctim.tv_nsec;
  e->mark = mark;
  e->fh = fh;
  e->dev = (uint64_t)st->st_dev;
  e->ino = (uint64_t)st->st_ino;
  e->until_ns = now_ns() + l->rest_ns;
  l->resting++;
}

static int ms_until(uint64_t t, uint64_t due) {
  uint64_t ms = due > t ? (due - t) / 1000000 + 1 : 0;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int epfd_tick(struct epfd_listener *l) {
  uint64_t t = now_ns();
  while (l->resting && l->rest[l->rest_first].until_ns <= t) end_rest(l);
  int timeout = l->resting ? ms_until(t, l->rest[l->rest_first].until_ns) : -1;
  if (!l->ignore || !l->ignoring) return timeout;
  if (t - l->ignored_since_ns >= l->ignore_ns) {
    forget_ignored(l);
    return -1;
  }
  int ms = ms_until(t, l->ignored_since_ns + l->ignore_ns);
  return timeout < 0 || ms < timeout ? ms : timeout;
}

static void refill(struct epfd_listener *l) {
  uint64_t t = now_ns(), dt = t - l->refilled_ns;
  if (dt < 1000000) return; /* every millisecond at most: one clock read per exec otherwise */
  l->refilled_ns = t;
  uint64_t add = dt >= 1000000000ull ? l->bytes_per_second : (uint64_t)((double)l->bytes_per_second * (double)dt / 1e9);
  l->tokens = l->tokens + add > l->burst_bytes || l->tokens + add < l->tokens ? l->burst_bytes : l->tokens + add;
}

/*
 * The root of process pid when its view of files is not the daemon's (a container: another
 * root directory or another mount namespace), as an O_PATH descriptor the libraries its note
 * names are looked up beneath; -1 when its view is the daemon's, or when the process is gone
 * already (a short program, in notify mode): its view cannot be known then, and the daemon's
 * own is the likely one; a library found there that is not the note's build still costs no
 * more than its first request (EPF_UNCHECKED_BUDGET). -2 when the process is there in another
 * view whose root cannot be opened: its libraries are then left alone.
 *
 * *host says whether the process sees files as init does (the host, not a container; a
 * process already gone, or any where init's view is hidden, counts as one): under the shipped unit (ProtectSystem, PrivateTmp) the
 * daemon's own view differs from every process's, so that is not what decides whether its
 * program may rest.
 */
static int same_view(const struct stat *ns, const struct stat *root, const struct stat *ns2, const struct stat *root2) {
  return ns->st_dev == ns2->st_dev && ns->st_ino == ns2->st_ino && root->st_dev == root2->st_dev && root->st_ino == root2->st_ino;
}

static int process_root(int pid, int *host) {
  static struct stat self_ns, self_root, init_ns, init_root;
  static int known, init_known;
  *host = 1;
  if (!known) {
    if (stat("/proc/self/ns/mnt", &self_ns) != 0 || stat("/", &self_root) != 0) return -1;
    init_known = stat("/proc/1/ns/mnt", &init_ns) == 0 && stat("/proc/1/root", &init_root) == 0;
    known = 1;
  }
  char p[64];
  struct stat ns, root;
  snprintf(p, sizeof p, "/proc/%d/ns/mnt", pid);
  if (stat(p, &ns) != 0) return -1;
  snprintf(p, sizeof p, "/proc/%d/root", pid);
  if (stat(p, &root) != 0) return -1;
  /* Where init's view cannot be looked at (a sandbox that hides PID 1), every process counts as
   * the host's: the daemon's own view says nothing under the unit. */
  *host = init_known ? same_view(&ns, &root, &init_ns, &init_root) : 1;
  if (same_view(&ns, &root, &self_ns, &self_root)) return -1;
  int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -2 : fd;
}

/* A permission event's answer: FAN_ALLOW, once, as early as the core says its first requests
 * are queued, or after the work; the exec waits for it. */
struct answer {
  int group, fd, due;
};

static void allow(void *ctx) {
  struct answer *a = ctx;
  if (!a->due) return;
  a->due = 0;
  struct fanotify_response r = {a->fd, FAN_ALLOW};
  ssize_t w = write(a->group, &r, sizeof r);
  (void)w;
}

/* A usable note the core found in a program: kept for the next exec of the same file. */
struct keep {
  struct epfd_note_cache *notes;
  const struct epfd_file_key *key;
};

static void keep_note(void *ctx, const uint8_t *desc, size_t len) {
  struct keep *k = ctx;
  epfd_notes_keep(k->notes, k->key, desc, len);
}

/*
 * One exec of the file open at fd. A program owned by someone else than root is read with its
 * owner's file system identity, so its note cannot make the daemon open, for that user, a file
 * the user could not open.
 */
static void handle_exec(struct epfd_listener *l, int fd, int pid, struct answer *a) {
  l->stats.events++;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  /* A resting program, unchanged since it was handled: its event was queued before the ignore
   * mark was placed (a burst of execs, or one batch). Its requests went out then: let it through. */
  struct epfd_resting *r = resting_entry(l, &st);
  if (r && r->ctime_sec == (int64_t)st.st_ctim.tv_sec && r->ctime_nsec == (int64_t)st.st_ctim.tv_nsec && now_ns() < r->until_ns) {
    l->stats.rest_let++;
    if (l->verbose) epfd_log(LOG_DEBUG, "exec of a resting program (pid %d): reported before its mark, let through", pid);
    return;
  }
  refill(l);
  char label[256];
  if (l->verbose) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, label, sizeof label - 1);
    if (n <= 0) n = snprintf(label, sizeof label, "(fd %d)", fd);
    label[n < (ssize_t)sizeof label ? n : (ssize_t)sizeof label - 1] = 0;
  } else {
    memcpy(label, "exec", 5);
  }
  if (l->tokens < MIN_TOKENS) {
    l->stats.over_budget++;
    if (l->verbose) epfd_log(LOG_DEBUG, "%s (pid %d): left alone, the I/O budget is spent", label, pid);
    return;
  }
  uint64_t budget = l->tokens < l->max_bytes_per_exec ? l->tokens : l->max_bytes_per_exec, start = budget;
  l->o.budget = &budget;
  int host = 1;
  int root = pid > 0 ? process_root(pid, &host) : -1;
  l->o.in_root = root != -1;
  l->o.root_fd = root;
  if (root >= 0 && l->verbose) epfd_log(LOG_DEBUG, "%s (pid %d): in another root or mount namespace: its libraries are looked up in /proc/%d/root", label, pid, pid);
  int other = st.st_uid != 0;
  if (other) {
    setfsgid(st.st_gid);
    setfsuid(st.st_uid);
  }
  static struct epf_seen seen; /* per exec: a library a note names twice is read once */
  seen.count = 0;
  epf_new_process();
  int watch = 0;
  l->o.watch = &watch;
  l->o.queued = allow;
  l->o.queued_ctx = a;
  /* A program seen before, unchanged since: its note is not read again (notecache.h). */
  struct epfd_file_key key;
  const uint8_t *known = 0;
  size_t known_len = 0;
  struct keep keep = {l->notes, &key};
  if (l->notes) {
    epfd_file_key(fd, &st, &key);
    known = epfd_notes_find(l->notes, &key, &known_len);
  }
  int n = 0;
  if (known) {
    if (l->verbose) epfd_log(LOG_DEBUG, "%s (pid %d): its note is in the note cache: not read", label, pid);
    n = epf_prefetch_known(fd, &st, label, known, known_len, &l->o, &seen);
    if (n < 0) { /* a damaged entry: forgotten, and the file read as if it were not kept */
      epfd_notes_forget(l->notes, &key);
      known = 0;
    } else {
      l->stats.known++;
    }
  }
  if (!known) {
    /* Only here: a note kept while `known` pointed into the cache could evict it. */
    if (l->notes) {
      l->o.usable_note = keep_note;
      l->o.usable_note_ctx = &keep;
    }
    n = epf_prefetch_fd(fd, label, &l->o, &seen);
  }
  l->o.usable_note = 0;
  l->o.usable_note_ctx = 0;
  if (other) {
    setfsuid(0);
    setfsgid(0);
  }
  l->o.budget = 0;
  l->o.watch = 0;
  l->o.queued = 0;
  l->o.queued_ctx = 0;
  if (root >= 0) close(root);
  l->o.in_root = 0;
  l->o.root_fd = -1;
  if (!watch && l->ignore) ignore_file(l, fd, label);
  l->tokens -= start - budget;
  if (n > 0) {
    l->stats.prefetched++;
    l->stats.files += (uint64_t)n;
  }
  if (budget == 0) {
    if (l->verbose) epfd_log(LOG_DEBUG, "%s (pid %d): the per-exec I/O budget ran out", label, pid);
    return; /* what was left out is requested at its next exec */
  }
  /* r is still this file's rest, if any: only ignore_file (never with watch) flushes the ring. */
  if (watch && host) rest_file(l, fd, &st, r, label);
}

int epfd_handle_events(struct epfd_listener *l, char *err, unsigned errlen) {
  static char buf[BATCH_BYTES] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
  ssize_t len = read(l->fd, buf, sizeof buf);
  if (len < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    snprintf(err, errlen, "reading fanotify events: %s", strerror(errno));
    return -1;
  }
  struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
  for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
    if (m->vers != FANOTIFY_METADATA_VERSION) {
      snprintf(err, errlen, "fanotify event version %u, not %u", m->vers, FANOTIFY_METADATA_VERSION);
      return -1;
    }
    if (m->mask & FAN_Q_OVERFLOW) {
      l->stats.overflows++;
      if (l->verbose) epfd_log(LOG_DEBUG, "the kernel's event queue overflowed: some execs were not prefetched");
    }
    if (m->fd < 0) continue;
    struct answer a = {l->fd, m->fd, (m->mask & FAN_OPEN_EXEC_PERM) != 0};
    if (m->mask & (FAN_OPEN_EXEC | FAN_OPEN_EXEC_PERM)) handle_exec(l, m->fd, m->pid, &a);
    allow(&a); /* always allowed, whatever happened above */
    close(m->fd);
  }
  return 0;
}

void epfd_use_notes(struct epfd_listener *l, struct epfd_note_cache *notes) {
  static struct epfd_checked checked;
  l->notes = notes;
  l->o.checked_ctx = notes ? &notes->libs : &checked;
}

void epfd_close(struct epfd_listener *l) {
  if (l->fd >= 0) close(l->fd); /* pending permission events are allowed by the kernel */
  l->fd = -1;
}
