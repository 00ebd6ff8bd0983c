/* elfprefetchd's note cache: see notecache.h and docs/DAEMON.md ("The note cache"). */
#define _GNU_SOURCE
#include "notecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../epf_note.h"

/* The file: a header, then per entry the key, the note's length and its bytes (padded to 8),
 * then the libraries checked before (checked.h), all in this machine's byte order (a file of
 * another byte order fails the version check). Version 1 had no libraries. */
static const char MAGIC[8] = {'E', 'P', 'F', 'D', 'N', 'O', 'T', 'E'};
#define VERSION 2u
#define MAX_ENTRIES 65536u

struct header {
  char magic[8];
  uint32_t version, count;  /* notes */
  uint32_t libs, pad;       /* libraries */
  uint64_t payload, digest; /* bytes after the header, and their FNV-1a */
};

struct record {
  struct epfd_file_key k;
  uint32_t len, pad;
};

/* The largest file a full cache makes: 64 MiB of notes (config.c's bound), a header, and per
 * entry a record and at most 7 bytes of padding. */
#define MAX_FILE ((64u << 20) + MAX_ENTRIES * (sizeof(struct record) + 7) + EPFD_CHECKED_SLOTS * sizeof(struct epfd_checked_entry) + sizeof(struct header))

struct epfd_note_entry {
  struct epfd_file_key k;
  uint8_t *desc;
  uint32_t len;
  uint64_t used; /* c->clock when last found or kept */
};

void epfd_notes_init(struct epfd_note_cache *c, uint64_t max_bytes) {
  memset(c, 0, sizeof *c);
  c->max_bytes = max_bytes;
}

void epfd_notes_free(struct epfd_note_cache *c) {
  for (uint32_t i = 0; i < c->count; i++) free(c->e[i].desc);
  free(c->e);
  uint64_t max = c->max_bytes;
  epfd_notes_init(c, max);
}

static int same(const struct epfd_file_key *a, const struct epfd_file_key *b) { return memcmp(a, b, sizeof *a) == 0; }

static struct epfd_note_entry *lookup(struct epfd_note_cache *c, const struct epfd_file_key *k) {
  for (uint32_t i = 0; i < c->count; i++)
    if (c->e[i].k.ino == k->ino && same(&c->e[i].k, k)) return &c->e[i];
  return 0;
}

const uint8_t *epfd_notes_find(struct epfd_note_cache *c, const struct epfd_file_key *k, size_t *len) {
  struct epfd_note_entry *e = lookup(c, k);
  if (!e) return 0;
  e->used = ++c->clock;
  *len = e->len;
  return e->desc;
}

static void drop(struct epfd_note_cache *c, uint32_t i) {
  c->bytes -= c->e[i].len;
  free(c->e[i].desc);
  c->e[i] = c->e[--c->count];
  c->dirty = 1;
}

static void drop_oldest(struct epfd_note_cache *c) {
  uint32_t oldest = 0;
  for (uint32_t i = 1; i < c->count; i++)
    if (c->e[i].used < c->e[oldest].used) oldest = i;
  drop(c, oldest);
}

/* Adds an entry without looking for an older one of the same key; 0, or -1 when out of memory. */
static int add(struct epfd_note_cache *c, const struct epfd_file_key *k, const uint8_t *desc, size_t len, uint64_t used) {
  if (len == 0 || len > c->max_bytes || len > EPF_MAX_DESC_SIZE) return 0;
  while (c->count && (c->bytes + len > c->max_bytes || c->count >= MAX_ENTRIES)) drop_oldest(c);
  if (c->count == c->cap) {
    uint32_t cap = c->cap ? c->cap * 2 : 64;
    struct epfd_note_entry *e = realloc(c->e, cap * sizeof *e);
    if (!e) return -1;
    c->e = e;
    c->cap = cap;
  }
  uint8_t *copy = malloc(len);
  if (!copy) return -1;
  memcpy(copy, desc, len);
  c->e[c->count++] = (struct epfd_note_entry){*k, copy, (uint32_t)len, used};
  c->bytes += len;
  c->dirty = 1;
  return 0;
}

void epfd_notes_keep(struct epfd_note_cache *c, const struct epfd_file_key *k, const uint8_t *desc, size_t len) {
  struct epfd_note_entry *e = lookup(c, k);
  if (e && e->len == len && memcmp(e->desc, desc, len) == 0) {
    e->used = ++c->clock;
    return;
  }
  if (e) drop(c, (uint32_t)(e - c->e));
  (void)add(c, k, desc, len, ++c->clock);
}

void epfd_notes_forget(struct epfd_note_cache *c, const struct epfd_file_key *k) {
  struct epfd_note_entry *e = lookup(c, k);
  if (e) drop(c, (uint32_t)(e - c->e));
}

int epfd_notes_changed(const struct epfd_note_cache *c) { return c->dirty || c->libs.dirty; }

static size_t padded(size_t n) { return (n + 7) & ~(size_t)7; }

/*
 * Why the directory of path may not hold the cache, or NULL: it must be root's and writable by no
 * one else, or someone else could replace the file or plant the temporary one.
 */
static const char *untrusted_dir(const char *path) {
  char dir[4200];
  if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) return "a name too long";
  char *slash = strrchr(dir, '/');
  if (!slash) return "not an absolute name";
  if (slash == dir) slash[1] = 0;
  else *slash = 0;
  struct stat st;
  if (lstat(dir, &st) != 0) return "its directory cannot be looked at";
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) return "its directory is not root's alone (owned by root, writable by no one else)";
  return 0;
}

int epfd_notes_load(struct epfd_note_cache *c, const char *path, char *err, unsigned errlen) {
  const char *dir_why = untrusted_dir(path);
  if (dir_why) {
    snprintf(err, errlen, "%s: %s: not used", path, dir_why);
    return -1;
  }
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "%s: %s", path, errno == ELOOP ? "a symbolic link: not used" : strerror(errno));
    return -1;
  }
  struct stat st;
  uint8_t *buf = 0;
  const char *why = 0;
  if (fstat(fd, &st) != 0) why = strerror(errno);
  else if (!S_ISREG(st.st_mode)) why = "not a regular file";
  else if (st.st_uid != 0 || (st.st_mode & 022)) why = "not owned by root, or writable by others than root";
  else if (st.st_size < (off_t)sizeof(struct header) || (uint64_t)st.st_size > MAX_FILE) why = "not a note cache (its size)";
  else if (!(buf = malloc((size_t)st.st_size))) why = "no memory to read it";
  else {
    size_t n = (size_t)st.st_size, got = 0;
    while (got < n) {
      ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
    }
    struct header h;
    memcpy(&h, buf, sizeof h);
    if (got != n) why = "cannot read it";
    else if (memcmp(h.magic, MAGIC, sizeof MAGIC) != 0) why = "not a note cache (its magic)";
    else if (h.version != VERSION) why = "a note cache of another version or byte order";
    else if (h.payload != n - sizeof h || h.count > MAX_ENTRIES || h.libs > EPFD_CHECKED_SLOTS) why = "a truncated or corrupt note cache (its header)";
    else if (epf_fnv1a64(EPF_FNV_OFFSET, buf + sizeof h, (size_t)h.payload) != h.digest) why = "a corrupt note cache (its checksum)";
    else {
      size_t at = sizeof h;
      for (uint32_t i = 0; i < h.count && !why; i++) {
        struct record r;
        if (n - at < sizeof r) {
          why = "a corrupt note cache (an entry past its end)";
          break;
        }
        memcpy(&r, buf + at, sizeof r);
        at += sizeof r;
        if (r.len == 0 || r.len > EPF_MAX_DESC_SIZE || padded(r.len) > n - at) {
          why = "a corrupt note cache (an entry's length)";
          break;
        }
        /* Kept in the file's order, oldest first, so the newest survive a smaller bound. */
        if (add(c, &r.k, buf + at, r.len, ++c->clock) != 0) why = "no memory to keep it";
        at += padded(r.len);
      }
      if (!why && (n - at) != (size_t)h.libs * sizeof(struct epfd_checked_entry)) why = "a corrupt note cache (the length of its libraries)";
      for (uint32_t i = 0; i < h.libs && !why; i++) {
        struct epfd_checked_entry e;
        memcpy(&e, buf + at, sizeof e);
        at += sizeof e;
        if (epfd_checked_put(&c->libs, &e) != 0) why = "a corrupt note cache (a library entry)";
      }
    }
  }
  free(buf);
  close(fd);
  if (why) {
    epfd_notes_free(c);
    snprintf(err, errlen, "%s: %s: not used", path, why);
    return -1;
  }
  c->dirty = 0;
  c->libs.dirty = 0;
  return 0;
}

static int cmp_used(const void *a, const void *b) {
  const struct epfd_note_entry *x = *(struct epfd_note_entry *const *)a, *y = *(struct epfd_note_entry *const *)b;
  return x->used < y->used ? -1 : x->used > y->used;
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

int epfd_notes_save(struct epfd_note_cache *c, const char *path, char *err, unsigned errlen) {
  struct epfd_note_entry **order = malloc((c->count ? c->count : 1) * sizeof *order);
  if (!order) {
    snprintf(err, errlen, "%s: no memory to write it", path);
    return -1;
  }
  struct header h;
  memcpy(h.magic, MAGIC, sizeof MAGIC);
  h.version = VERSION;
  h.count = c->count;
  h.libs = 0;
  h.pad = 0;
  h.payload = 0;
  h.digest = EPF_FNV_OFFSET;
  static const uint8_t zero[8];
  for (uint32_t i = 0; i < c->count; i++) order[i] = &c->e[i];
  qsort(order, c->count, sizeof *order, cmp_used);
  for (uint32_t i = 0; i < c->count; i++) {
    struct record r = {order[i]->k, order[i]->len, 0};
    h.digest = epf_fnv1a64(h.digest, (const uint8_t *)&r, sizeof r);
    h.digest = epf_fnv1a64(h.digest, order[i]->desc, r.len);
    h.digest = epf_fnv1a64(h.digest, zero, padded(r.len) - r.len);
    h.payload += sizeof r + padded(r.len);
  }
  for (uint32_t i = 0; i < EPFD_CHECKED_SLOTS; i++) {
    if (!c->libs.e[i].used) continue;
    h.libs++;
    h.digest = epf_fnv1a64(h.digest, (const uint8_t *)&c->libs.e[i], sizeof c->libs.e[i]);
    h.payload += sizeof c->libs.e[i];
  }
  char tmp[4200];
  int fd = -1;
  const char *dir_why = untrusted_dir(path);
  if (dir_why) {
    free(order);
    snprintf(err, errlen, "cannot write the note cache %s: %s", path, dir_why);
    return -1;
  }
  /* A fresh file (O_EXCL), never one left or planted there; no fsync: a file cut short by a
   * crash fails its size or checksum check and is not used, which costs one read of each note. */
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) errno = ENAMETOOLONG;
  else if (unlink(tmp) == 0 || errno == ENOENT) fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  int ok = fd >= 0 && write_all(fd, &h, sizeof h) == 0;
  for (uint32_t i = 0; ok && i < c->count; i++) {
    struct record r = {order[i]->k, order[i]->len, 0};
    ok = write_all(fd, &r, sizeof r) == 0 && write_all(fd, order[i]->desc, r.len) == 0 && write_all(fd, zero, padded(r.len) - r.len) == 0;
  }
  for (uint32_t i = 0; ok && i < EPFD_CHECKED_SLOTS; i++)
    if (c->libs.e[i].used) ok = write_all(fd, &c->libs.e[i], sizeof c->libs.e[i]) == 0;
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && ok) ok = 0, saved = errno;
  if (ok && rename(tmp, path) != 0) ok = 0, saved = errno;
  free(order);
  if (!ok) {
    if (fd >= 0) unlink(tmp);
    snprintf(err, errlen, "cannot write the note cache %s: %s", path, strerror(saved));
    return -1;
  }
  c->dirty = 0;
  c->libs.dirty = 0;
  return 0;
}
