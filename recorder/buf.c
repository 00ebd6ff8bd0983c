#include <string.h>

#include "buf.h"
#include "sys.h"

int buf_reserve(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t n = b->cap ? b->cap : 1 << 16;
  while (n < b->len + more) n *= 2;
  void *q = b->p ? r_mremap(b->p, b->cap, n) : r_mmap(n);
  if (q == MAP_FAILED) return -1;
  b->p = q;
  b->cap = n;
  return 0;
}

void buf_free(struct buf *b) {
  if (b->p) r_munmap(b->p, b->cap);
  b->p = NULL;
  b->len = b->cap = 0;
}

int buf_add(struct buf *b, const void *s, size_t n) {
  if (buf_reserve(b, n)) return -1;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

int buf_str(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

int buf_u64(struct buf *b, uint64_t v) {
  char t[24];
  int i = sizeof t;
  do t[--i] = (char)('0' + v % 10), v /= 10;
  while (v);
  return buf_add(b, t + i, sizeof t - i);
}

int buf_hex(struct buf *b, uint64_t v) {
  char t[20];
  int i = sizeof t;
  do t[--i] = "0123456789abcdef"[v & 15], v >>= 4;
  while (v);
  return buf_add(b, t + i, sizeof t - i);
}

int read_file(const char *path, struct buf *b) {
  int fd = r_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  b->len = 0;
  for (;;) {
    if (buf_reserve(b, 65536)) break;
    long n = r_read(fd, b->p + b->len, b->cap - b->len - 1);
    if (n == -EINTR) continue;
    if (n <= 0) break;
    b->len += (size_t)n;
  }
  r_close(fd);
  if (!b->p) return -1;
  b->p[b->len] = 0;
  return 0;
}

uint64_t parse_u64(const char *s) {
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  return v;
}

int has_flag(const char *flags, const char *name) {
  if (!flags) return 0;
  size_t n = strlen(name);
  for (const char *s = flags; *s;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == n && memcmp(s, name, n) == 0) return 1;
    if (!e) break;
    s = e + 1;
  }
  return 0;
}
