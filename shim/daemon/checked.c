/* The libraries the daemon has checked (checked.h), and the file identity it and the note cache use. */
#define _GNU_SOURCE
#include "checked.h"

#include <string.h>
#include <sys/statfs.h>

void epfd_file_key(int fd, const struct stat *st, struct epfd_file_key *k) {
  memset(k, 0, sizeof *k);
  struct statfs fs;
  uint64_t id = 0;
  /* The file system's id: from its UUID on ext4 and btrfs, so it outlives a reboot; the device
   * number on xfs and others, which a loop or device-mapper device may change at the next boot
   * (then the notes miss, once). A file system without one is known by its device number. */
  if (fstatfs(fd, &fs) == 0) {
    uint32_t v[2];
    memcpy(v, &fs.f_fsid, sizeof v);
    id = (uint64_t)v[0] << 32 | v[1];
  }
  k->fs = id ? id : (uint64_t)st->st_dev | 1ull << 63;
  k->ino = st->st_ino;
  k->size = (uint64_t)st->st_size;
  k->mtime_s = st->st_mtim.tv_sec;
  k->mtime_ns = st->st_mtim.tv_nsec;
  k->ctime_s = st->st_ctim.tv_sec;
  k->ctime_ns = st->st_ctim.tv_nsec;
}

static struct epfd_checked_entry *slot(struct epfd_checked *c, const struct epfd_file_key *k) {
  uint64_t h = (k->fs * 0x9e3779b97f4a7c15ull) ^ (k->ino * 0xc2b2ae3d27d4eb4full);
  return &c->e[(h >> 32) % EPFD_CHECKED_SLOTS];
}

int epfd_checked_before(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  struct epfd_file_key k;
  epfd_file_key(fd, st, &k);
  const struct epfd_checked_entry *e = slot(ctx, &k);
  return e->used && memcmp(&e->k, &k, sizeof k) == 0 && e->layout == layout && e->bid_len == build_id_len && memcmp(e->bid, build_id, build_id_len) == 0;
}

void epfd_checked_keep(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  if (build_id_len > EPF_MAX_BUILD_ID) return;
  struct epfd_checked *c = ctx;
  struct epfd_checked_entry n;
  memset(&n, 0, sizeof n);
  epfd_file_key(fd, st, &n.k);
  n.used = 1;
  n.layout = layout;
  n.bid_len = (uint8_t)build_id_len;
  memcpy(n.bid, build_id, build_id_len);
  struct epfd_checked_entry *e = slot(c, &n.k);
  if (memcmp(e, &n, sizeof n) == 0) return;
  *e = n;
  c->dirty = 1;
}

int epfd_checked_put(struct epfd_checked *c, const struct epfd_checked_entry *e) {
  if (e->used != 1 || e->bid_len > EPF_MAX_BUILD_ID) return -1;
  *slot(c, &e->k) = *e;
  return 0;
}
