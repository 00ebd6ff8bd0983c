/* Reading files (epf_file.h) and the files a process prefetched already (epf_seen). */
#define _GNU_SOURCE
#include "epf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int epf_seen_has(const struct epf_seen *seen, uint64_t dev, uint64_t ino) {
  if (!seen) return 0;
  for (uint32_t i = 0; i < seen->count && i < EPF_MAX_SEEN; i++)
    if (seen->file[i].dev == dev && seen->file[i].ino == ino) return 1;
  return 0;
}

void epf_seen_add(struct epf_seen *seen, const struct stat *st) {
  if (!seen || seen->count >= EPF_MAX_SEEN || epf_seen_has(seen, st->st_dev, st->st_ino)) return;
  seen->file[seen->count].dev = st->st_dev;
  seen->file[seen->count].ino = st->st_ino;
  seen->count++;
}

void epf_own_add(struct epf_own *own, uint64_t off, uint64_t len) {
  if (!len) return;
  uint64_t from = off >> 12, to = ((off + len - 1) >> 12) + 1; /* in 4 KiB units, rounded out */
  if (off + len < off || to > UINT32_MAX) {
    own->overflow = 1;
    return;
  }
  /* Ranges that overlap or touch the new one are folded into it, and it takes the last's place. */
  for (uint32_t i = 0; i < own->n;) {
    if (from <= own->to[i] && to >= own->from[i]) {
      if (own->from[i] < from) from = own->from[i];
      if (own->to[i] > to) to = own->to[i];
      own->n--;
      own->from[i] = own->from[own->n];
      own->to[i] = own->to[own->n];
    } else {
      i++;
    }
  }
  if (own->n >= EPF_OWN_MAX) {
    own->overflow = 1;
    return;
  }
  own->from[own->n] = (uint32_t)from;
  own->to[own->n++] = (uint32_t)to;
}

void epf_own_read(struct epf_file *f, uint64_t off, uint64_t len) {
  if (!f->own.advised) {
    f->own.advised = 1;
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_RANDOM);
  }
  epf_own_add(&f->own, off, len);
}

int epf_open_ro(const char *path, int flags) {
  /* O_LARGEFILE as open() adds it: the kernel forces it only for a 64-bit caller (0 where not needed). */
  long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_LARGEFILE | flags);
  return fd < 0 ? -1 : (int)fd;
}

/* fd if it is open on a regular file (the one `pre` saw, when given), else -1 with fd closed. */
static int keep_regular(int fd, struct stat *st, const struct stat *pre) {
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 || (pre && (st->st_dev != pre->st_dev || st->st_ino != pre->st_ino))) {
    close(fd);
    return -1;
  }
  return fd;
}

int epf_open_regular(const char *path, struct stat *st, int untrusted) {
  struct stat pre;
  if (untrusted && (stat(path, &pre) != 0 || !S_ISREG(pre.st_mode))) return -1;
  return keep_regular(epf_open_ro(path, O_NONBLOCK | O_NOCTTY), st, untrusted ? &pre : 0);
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define EPF_RESOLVE_NO_MAGICLINKS 0x02
#define EPF_RESOLVE_IN_ROOT 0x10

static int open_beneath(int root_fd, const char *path, int flags) {
  struct {
    uint64_t flags, mode, resolve;
  } how = {(uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY)), 0, EPF_RESOLVE_IN_ROOT | EPF_RESOLVE_NO_MAGICLINKS};
  long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  return fd < 0 ? -1 : (int)fd;
}

/* Looked at through O_PATH first (which opens nothing: no FIFO or device is ever opened), then
 * opened and checked to be that same file. */
int epf_open_regular_in(int root_fd, const char *path, struct stat *st) {
  struct stat pre;
  int probe = open_beneath(root_fd, path, O_PATH);
  if (probe < 0) return -1;
  int ok = fstat(probe, &pre) == 0 && S_ISREG(pre.st_mode);
  close(probe);
  return ok ? keep_regular(open_beneath(root_fd, path, O_RDONLY | O_NONBLOCK), st, &pre) : -1;
}

int epf_pread_full(int fd, void *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    done += (size_t)n;
  }
  return 0;
}

static uint8_t pages[EPF_PAGES][EPF_HEAD_BYTES] __attribute__((aligned(64)));
static int taken[EPF_PAGES];

uint8_t *epf_page_get(struct epf_page *p) {
  for (int i = 0; i < EPF_PAGES; i++) {
    if (!__atomic_exchange_n(&taken[i], 1, __ATOMIC_ACQUIRE)) {
      p->slot = i;
      return p->b = pages[i];
    }
  }
  void *m = mmap(0, EPF_HEAD_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p->slot = -1;
  return p->b = m == MAP_FAILED ? 0 : m;
}

void epf_page_put(struct epf_page *p) {
  if (!p->b) return;
  if (p->slot >= 0) __atomic_store_n(&taken[p->slot], 0, __ATOMIC_RELEASE);
  else munmap(p->b, EPF_HEAD_BYTES);
  p->b = 0;
}

void epf_region_release(struct epf_region *r) {
  if (r->map) munmap(r->map, r->len);
  r->map = 0;
  r->len = 0;
}

int epf_file_stat(struct epf_file *f) {
  if (!f->have_st) {
    if (fstat(f->fd, &f->st) != 0 || !S_ISREG(f->st.st_mode) || f->st.st_size < 0) return -1;
    f->have_st = 1;
  }
  return 0;
}

ssize_t epf_read_head(int fd, uint8_t *head) {
  size_t done = 0;
  while (done < EPF_HEAD_BYTES) {
    ssize_t n = pread(fd, head + done, EPF_HEAD_BYTES - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

const uint8_t *epf_file_bytes(struct epf_file *f, const uint8_t *head, size_t head_len, uint64_t off, uint64_t len, struct epf_region *r) {
  if (off <= head_len && len <= head_len - off) return head + off;
  if (len == 0 || len > EPF_MAX_NOTE_SEGMENT + EPF_MAX_PHDR_BYTES || epf_file_stat(f) != 0) return 0;
  uint64_t size = (uint64_t)f->st.st_size;
  if (off > size || len > size - off) return 0;
  void *m = mmap(0, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;
  r->map = m;
  r->len = (size_t)len;
  epf_own_read(f, off, len);
  if (epf_pread_full(f->fd, m, (size_t)len, off) != 0) {
    epf_region_release(r);
    return 0;
  }
  return m;
}
