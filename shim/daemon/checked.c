/* The libraries the daemon has checked (checked.h), and the file identity it and the note cache use. */
#define _GNU_SOURCE
#include "checked.h"

#include <string.h>
#include <sys/statfs.h>

#include "../epf_devclass.h"

/* The file system's id and whether it is a network one, per device: a statfs is a round trip to
 * the server on NFS and FUSE, and every library of every exec has its key made. */
#define FS_SLOTS 8
static struct {
  uint64_t dev, id;
  int used, net;
} fs_of[FS_SLOTS];

void epfd_file_key_forget(void) { memset(fs_of, 0, sizeof fs_of); }

int epfd_file_key(int fd, const struct stat *st, struct epfd_file_key *k) {
  memset(k, 0, sizeof *k);
  uint64_t dev = (uint64_t)st->st_dev, id = 0;
  int net = 0;
  unsigned s = (unsigned)(dev * 31 % FS_SLOTS);
  if (fs_of[s].used && fs_of[s].dev == dev) {
    id = fs_of[s].id;
    net = fs_of[s].net;
  } else {
    /* The file system's id: from its UUID on ext4 and btrfs, so it outlives a reboot; the device
     * number on xfs and others, which a loop or device-mapper device may change at the next boot
     * (then the notes miss, once). A file system without one is known by its device number. */
    struct statfs fs;
    if (fstatfs(fd, &fs) == 0) {
      uint32_t v[2];
      memcpy(v, &fs.f_fsid, sizeof v);
      id = (uint64_t)v[0] << 32 | v[1];
      net = epf_network_fs((unsigned long)fs.f_type);
      fs_of[s].dev = dev;
      fs_of[s].id = id;
      fs_of[s].net = net;
      fs_of[s].used = 1;
    }
  }
  k->fs = id ? id : dev | 1ull << 63;
  k->ino = st->st_ino;
  k->size = (uint64_t)st->st_size;
  k->mtime_s = st->st_mtim.tv_sec;
  k->mtime_ns = st->st_mtim.tv_nsec;
  k->ctime_s = st->st_ctim.tv_sec;
  k->ctime_ns = st->st_ctim.tv_nsec;
  return net;
}

/* The first slot of the key's set. */
static unsigned set_of(const struct epfd_file_key *k) {
  uint64_t h = (k->fs * 0x9e3779b97f4a7c15ull) ^ (k->ino * 0xc2b2ae3d27d4eb4full);
  return (unsigned)((h >> 32) % (EPFD_CHECKED_SLOTS / EPFD_CHECKED_WAYS)) * EPFD_CHECKED_WAYS;
}

/* The slot holding k, or -1. */
static int find(const struct epfd_checked *c, const struct epfd_file_key *k) {
  unsigned first = set_of(k);
  for (unsigned i = first; i < first + EPFD_CHECKED_WAYS; i++)
    if (c->e[i].used && memcmp(&c->e[i].k, k, sizeof *k) == 0) return (int)i;
  return -1;
}

/* The slot for a new entry of k's set: a free one, else the least recently used. */
static unsigned victim(const struct epfd_checked *c, const struct epfd_file_key *k) {
  unsigned first = set_of(k), v = first;
  for (unsigned i = first; i < first + EPFD_CHECKED_WAYS; i++) {
    if (!c->e[i].used) return i;
    if ((int32_t)(c->last_used[i] - c->last_used[v]) < 0) v = i;
  }
  return v;
}

int epfd_checked_before(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  struct epfd_checked *c = ctx;
  struct epfd_file_key k;
  if (epfd_file_key(fd, st, &k)) return 0;
  int i = find(c, &k);
  if (i < 0) return 0;
  const struct epfd_checked_entry *e = &c->e[i];
  if (e->layout != layout || e->bid_len != build_id_len || memcmp(e->bid, build_id, build_id_len) != 0) return 0;
  c->last_used[i] = ++c->clock;
  return 1;
}

void epfd_checked_keep(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout) {
  if (build_id_len > EPF_MAX_BUILD_ID) return;
  struct epfd_checked *c = ctx;
  struct epfd_checked_entry n;
  memset(&n, 0, sizeof n);
  if (epfd_file_key(fd, st, &n.k)) return;
  n.used = 1;
  n.layout = layout;
  n.bid_len = (uint8_t)build_id_len;
  memcpy(n.bid, build_id, build_id_len);
  int i = find(c, &n.k);
  unsigned s = i >= 0 ? (unsigned)i : victim(c, &n.k);
  c->last_used[s] = ++c->clock;
  if (memcmp(&c->e[s], &n, sizeof n) == 0) return;
  c->e[s] = n;
  c->dirty = 1;
}

int epfd_checked_put(struct epfd_checked *c, const struct epfd_checked_entry *e) {
  if (e->used != 1 || e->bid_len > EPF_MAX_BUILD_ID) return -1;
  int i = find(c, &e->k);
  unsigned s = i >= 0 ? (unsigned)i : victim(c, &e->k);
  c->e[s] = *e;
  c->last_used[s] = ++c->clock; /* in the file's order: the later ones are the newer */
  return 0;
}
