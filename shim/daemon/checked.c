/* The libraries the daemon has checked (checked.h). */
#include "checked.h"

#include <string.h>

static struct epfd_checked_entry *slot(struct epfd_checked *c, const struct stat *st) {
  uint64_t h = ((uint64_t)st->st_dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)st->st_ino * 0xc2b2ae3d27d4eb4full);
  return &c->e[(h >> 32) % EPFD_CHECKED_SLOTS];
}

static int same_file(const struct epfd_checked_entry *e, const struct stat *st) {
  return e->used && e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino && e->size == (uint64_t)st->st_size &&
         e->mtime_s == (int64_t)st->st_mtim.tv_sec && e->mtime_ns == (int64_t)st->st_mtim.tv_nsec && e->ctime_s == (int64_t)st->st_ctim.tv_sec &&
         e->ctime_ns == (int64_t)st->st_ctim.tv_nsec;
}

int epfd_checked_before(void *ctx, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  const struct epfd_checked_entry *e = slot(ctx, st);
  return same_file(e, st) && e->layout == layout && e->bid_len == build_id_len && memcmp(e->bid, build_id, build_id_len) == 0;
}

void epfd_checked_keep(void *ctx, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  if (build_id_len > EPF_MAX_BUILD_ID) return;
  struct epfd_checked_entry *e = slot(ctx, st);
  e->used = 1;
  e->dev = (uint64_t)st->st_dev;
  e->ino = (uint64_t)st->st_ino;
  e->size = (uint64_t)st->st_size;
  e->mtime_s = (int64_t)st->st_mtim.tv_sec;
  e->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
  e->ctime_s = (int64_t)st->st_ctim.tv_sec;
  e->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
  e->layout = layout;
  e->bid_len = (uint8_t)build_id_len;
  memcpy(e->bid, build_id, build_id_len);
}
