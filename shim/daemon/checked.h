/*
 * elfprefetchd's memory of the libraries whose build it has checked (docs/DAEMON.md, "Libraries
 * checked before"): by file identity (device, inode, size, modification and change times to the
 * nanosecond), the build-id and layout digest their headers had. A library found again with the
 * same identity and named by a note with the same build needs no read of its headers: on a cold
 * start that read waits for the library's first request, and the rest of its set waited for it.
 * In memory only, a fixed table (a slot per identity's hash; a newer library takes the slot).
 */
#ifndef EPFD_CHECKED_H
#define EPFD_CHECKED_H

#include <stdint.h>
#include <sys/stat.h>

#include "../epf_note.h"

#define EPFD_CHECKED_SLOTS 1024

struct epfd_checked_entry {
  uint64_t dev, ino, size, layout;
  int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
  uint8_t used, bid_len;
  uint8_t bid[EPF_MAX_BUILD_ID];
};

struct epfd_checked {
  struct epfd_checked_entry e[EPFD_CHECKED_SLOTS];
};

/* The core's o->checked_before and o->checked, with ctx a struct epfd_checked. */
int epfd_checked_before(void *ctx, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);
void epfd_checked_keep(void *ctx, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);

#endif
