/*
 * elfprefetchd's fanotify listener: one group with exec marks on the configured file systems
 * and mounts, and the handling of its events (prefetch through the shim's core, bounded by a
 * shared byte budget).
 */
#ifndef EPFD_LISTENER_H
#define EPFD_LISTENER_H

#include <fcntl.h>
#include <stdint.h>

#include "config.h"
#include "notecache.h"

struct epfd_stats {
  uint64_t events;     /* exec events handled */
  uint64_t prefetched; /* events that prefetched at least one file */
  uint64_t files;      /* files prefetched (programs and libraries) */
  uint64_t over_budget; /* events left alone because the shared byte budget was spent */
  uint64_t overflows;  /* times the kernel's event queue overflowed (events lost: execs unaffected) */
  uint64_t ignored;    /* files the kernel was asked to stop reporting (nothing to prefetch) */
  uint64_t known;      /* execs whose note came from the note cache (no read of it) */
  uint64_t resting;    /* times a handled program's execs went unreported for recheck-seconds */
  uint64_t rest_let;   /* execs of a resting program reported before its mark was placed: let through */
};

/* A stamped program whose execs the kernel does not report for a while (config recheck-seconds):
 * its file handle (name_to_handle_at) and the watched path of its file system, to open it again
 * and take the ignore mark off, and when that is due. Not its descriptor: an open file keeps its
 * mount from being unmounted; not its name: a name may lead elsewhere, or nowhere, in the
 * daemon's own view (a unit with PrivateTmp, a container's bind mount, a deleted file). */
#define EPFD_MAX_RESTING 256
#define EPFD_HANDLE_BYTES 64
struct epfd_handle { /* a struct file_handle with room for its bytes */
  struct file_handle h;
  unsigned char bytes[EPFD_HANDLE_BYTES];
};
struct epfd_resting {
  uint64_t dev, ino, until_ns;
  int64_t ctime_sec, ctime_nsec; /* as handled: a write changes it */
  unsigned mark; /* the configured file system or mount it is on */
  struct epfd_handle fh;
};

struct epfd_listener {
  int fd;
  enum epfd_mode mode; /* what the group really gets (permission may fall back to notify) */
  struct epf_options o;
  uint64_t max_bytes_per_exec, bytes_per_second, burst_bytes;
  uint64_t tokens;     /* the shared budget, in bytes */
  uint64_t refilled_ns; /* CLOCK_MONOTONIC of the last refill */
  int verbose;
  int ignore;            /* ignore marks on files with nothing to prefetch (config ignore-unstamped) */
  int evictable;         /* the kernel takes FAN_MARK_EVICTABLE (5.19+): the marks pin no inode */
  unsigned ignoring;     /* ignore marks placed since they were last forgotten */
  uint64_t ignore_ns;    /* how long they are kept */
  uint64_t ignored_since_ns; /* CLOCK_MONOTONIC of the last time they were forgotten */
  struct epfd_note_cache *notes; /* the notes of programs seen before, or NULL (note-cache = none) */
  uint64_t rest_ns;      /* recheck-seconds */
  unsigned marks;        /* the configured file systems and mounts: their paths and devices */
  char mark_path[EPFD_MAX_MARKS][EPFD_MAX_MARK_PATH + 1];
  uint64_t mark_dev[EPFD_MAX_MARKS];
  struct epfd_resting rest[EPFD_MAX_RESTING]; /* a ring, oldest first: `resting` from `rest_first` */
  unsigned rest_first, resting;
  struct epfd_stats stats;
};

/*
 * Opens the group for configuration c and marks every file system and mount. A permission mode
 * the kernel refuses falls back to notification events, saying so. Returns 0, or -1 having
 * written why into err.
 */
int epfd_listen(struct epfd_listener *l, const struct epfd_config *c, int verbose, char *err, unsigned errlen);

/* Handles the events waiting (at most a few hundred, so signals are seen between batches).
 * Returns -1 when the group is unusable (then err says why), else 0. */
int epfd_handle_events(struct epfd_listener *l, char *err, unsigned errlen);

/*
 * Forgets the ignore marks once they are ignore-seconds old, and takes those of resting programs
 * off once recheck-seconds have passed. Returns the milliseconds until the next of these is due
 * (for poll), or -1 when nothing is due.
 */
int epfd_tick(struct epfd_listener *l);

/* The note cache the listener keeps programs' notes and checked libraries in (NULL: none, the
 * libraries then in memory only). */
void epfd_use_notes(struct epfd_listener *l, struct epfd_note_cache *notes);

/* Closes the group (its marks go with it). */
void epfd_close(struct epfd_listener *l);

#endif
