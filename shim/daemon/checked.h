/*
 * elfprefetchd's memory of the libraries whose build it has checked (docs/DAEMON.md, "Libraries
 * checked before"): by file identity (the note cache's key: file system id, inode, size,
 * modification and change times to the nanosecond), the build-id and layout digest their headers
 * had. A library found again with the same identity and named by a note with the same build needs
 * no read of its headers: on a cold start that read waits for the library's first request, and
 * the rest of its set waited for it. Files on network and user-space file systems are never
 * remembered (what they report of a file is their server's word). A fixed table of 4-way sets
 * (the least recently used of a set gives way); kept in the note cache's file (notecache.c).
 */
#ifndef EPFD_CHECKED_H
#define EPFD_CHECKED_H

#include <stdint.h>
#include <sys/stat.h>

#include "../epf_note.h"

#define EPFD_CHECKED_WAYS 4
#define EPFD_CHECKED_SLOTS 4096

/* A file, as the note cache and this table know it. */
struct epfd_file_key {
  uint64_t fs, ino, size;
  int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

/*
 * The key of the open file fd whose fstat is st (its file system's id from fstatfs, remembered
 * per device). Returns 1 when the file is on a network or user-space file system, else 0.
 */
int epfd_file_key(int fd, const struct stat *st, struct epfd_file_key *k);

/* Forgets the file systems' ids per device (device numbers are reused). */
void epfd_file_key_forget(void);

/* One library, as stored in memory and in the note cache's file (this machine's byte order). */
struct epfd_checked_entry {
  struct epfd_file_key k;
  uint64_t layout;
  uint8_t used, bid_len, pad[6];
  uint8_t bid[EPF_MAX_BUILD_ID];
};

struct epfd_checked {
  struct epfd_checked_entry e[EPFD_CHECKED_SLOTS];
  uint32_t last_used[EPFD_CHECKED_SLOTS]; /* clock at the last find or keep (memory only) */
  uint32_t clock;
  int dirty; /* changed since the note cache was last saved */
};

/* The core's o->checked_before and o->checked, with ctx a struct epfd_checked. */
int epfd_checked_before(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);
void epfd_checked_keep(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);

/* Puts an entry read from a file into its set; -1 when it is not one this table could hold. */
int epfd_checked_put(struct epfd_checked *c, const struct epfd_checked_entry *e);

#endif
