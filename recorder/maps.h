/*
 * /proc/self/maps, read with raw read() into an anonymous mapping and parsed in place: no stdio,
 * no malloc, no lock in user space. An ELF object loaded by ld.so or the kernel shows as a run of
 * consecutive lines of one file (same device and inode) whose file offsets do not fall; a second
 * copy of the same file (its offsets start again), or any other line, starts another run.
 */
#ifndef RECORDER_MAPS_H
#define RECORDER_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct mapping {
  uint64_t start, end, pgoff;
  char perms[5];
  uint64_t ino;
  unsigned dev_major, dev_minor;
  const char *path; /* not NUL-terminated; path_len bytes */
  size_t path_len;
};

/* One object's mappings: `count` lines from `text`, covering [lo, hi). */
struct run {
  const char *text;
  size_t count;
  uint64_t lo, hi;
  struct mapping first;
};

/* Next line of maps text at *cur; 0 at the end. */
int next_mapping(const char **cur, struct mapping *m);
/* A mapping of a file that is still there (not anonymous, not a pseudo-file, not deleted). */
int is_file_mapping(const struct mapping *m);
/* Next run of file mappings at *cur; 0 at the end. */
int next_run(const char **cur, struct run *r);
/* The run that holds addr; 0 if addr is in none. */
int run_at(const char *maps, uint64_t addr, struct run *r);

#endif
