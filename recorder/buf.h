/*
 * Memory without malloc: growable buffers in anonymous mappings (raw mmap/mremap, no lock in user
 * space), and the number formatting and parsing of the raw results. Safe in a signal handler and in a fork
 * child; not used in a vfork child (a mapping made there would stay in the parent: exec.c).
 */
#ifndef RECORDER_BUF_H
#define RECORDER_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
  char *p;
  size_t len, cap;
};

int buf_reserve(struct buf *b, size_t more);
void buf_free(struct buf *b);
int buf_add(struct buf *b, const void *s, size_t n);
int buf_str(struct buf *b, const char *s);
int buf_u64(struct buf *b, uint64_t v);
int buf_hex(struct buf *b, uint64_t v);
/* Reads a whole (proc) file into b, NUL-terminated; -1 if it cannot be opened or held. */
int read_file(const char *path, struct buf *b);
uint64_t parse_u64(const char *s);
/* Whether the comma-separated list holds name. */
int has_flag(const char *flags, const char *name);

#endif
