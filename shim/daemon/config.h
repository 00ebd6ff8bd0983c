/*
 * elfprefetchd's configuration: /etc/elfprefetch/elfprefetchd.conf (docs/man/elfprefetchd.8).
 * Lines of "key = value"; '#' starts a comment. Read only from a root-owned regular file that no
 * one else may write, opened without following a symbolic link.
 */
#ifndef EPFD_CONFIG_H
#define EPFD_CONFIG_H

#include <stdint.h>

#include "../epf_note.h"
#include "../epf_prefetch.h"

#define EPFD_DEFAULT_CONFIG "/etc/elfprefetch/elfprefetchd.conf"
#define EPFD_MAX_MARKS 32
#define EPFD_MAX_MARK_PATH 1024
#define EPFD_DEFAULT_NOTE_CACHE "/var/cache/elfprefetch/elfprefetchd.notes"

enum epfd_mode { EPFD_NOTIFY, EPFD_PERMISSION };

struct epfd_mark {
  int mount; /* 1: the mount at path (FAN_MARK_MOUNT); 0: its whole file system (FAN_MARK_FILESYSTEM) */
  char path[EPFD_MAX_MARK_PATH + 1];
};

struct epfd_config {
  enum epfd_mode mode;
  unsigned marks;
  struct epfd_mark mark[EPFD_MAX_MARKS];
  char sidecar[EPF_MAX_SIDECAR_DIR + 1]; /* empty: no sidecars */
  char set[EPF_MAX_SET_NAME + 1];
  const struct epf_device *device; /* NULL: detect per file */
  uint64_t max_bytes_per_exec;    /* read-ahead requested for one exec (program and libraries) */
  uint64_t bytes_per_second;      /* the rate the shared budget refills at */
  uint64_t burst_bytes;           /* the most the shared budget holds */
  int skip_resident;
  int residency;             /* leave out requests whose pages are cached (the shim's ELFPREFETCH_RESIDENCY) */
  int ignore_unstamped;      /* after one look, the kernel stops reporting execs of a file with nothing to prefetch */
  unsigned ignore_seconds;   /* ... for at most this long (a sidecar made later is then seen) */
  unsigned recheck_seconds;  /* a stamped program handled is not reported again for this long (0: every exec) */
  int nice; /* -20..19; the daemon also runs under SCHED_BATCH */
  int note_cache_on;                       /* keep the notes of programs seen (note-cache = none: no) */
  char note_cache[EPFD_MAX_MARK_PATH + 1]; /* ... and in this file across restarts; empty: in memory only */
  uint64_t note_cache_bytes;               /* notes it holds at most */
};

/* The defaults: notification events on the file system of /, the compiled-in sidecar directory. */
void epfd_config_defaults(struct epfd_config *c);

/*
 * Reads `path` over the defaults. Returns 0, or -1 having written "FILE:LINE: what" (or
 * "FILE: what") into err; then c is not to be used.
 */
int epfd_config_load(struct epfd_config *c, const char *path, char *err, unsigned errlen);

#endif
