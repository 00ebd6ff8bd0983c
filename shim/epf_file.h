/*
 * Reading files inside other people's programs: open only regular files, read by position,
 * bytes outside the first page into an anonymous mapping of exactly their size (released again),
 * and the set of files one process prefetched already.
 */
#ifndef EPF_FILE_H
#define EPF_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "epf_prefetch.h"

/* The first bytes of a file read in one pread: the ELF header, usually its program headers and notes. */
#define EPF_HEAD_BYTES 4096

/* Bytes of the file outside the first page: an anonymous mapping of exactly their size. */
struct epf_region {
  void *map;
  size_t len;
};

void epf_region_release(struct epf_region *r);

/*
 * The byte ranges of a file the shim read itself (its head, program headers, note headers, its
 * note). The pages they brought into the page cache say nothing about whether the rest of the
 * file is there, so the residency checks look past them (epf_resident.h). More than EPF_OWN_MAX
 * separate ranges set `overflow`, and then no page of the file counts as cached (every request
 * is issued, as with the check off).
 */
#define EPF_OWN_MAX 4
struct epf_own {               /* small: it is on the stack of a dlopen */
  uint8_t n, overflow;
  uint8_t advised;            /* POSIX_FADV_RANDOM given (epf_own_read) */
  uint32_t from[EPF_OWN_MAX]; /* 4 KiB units: its first, */
  uint32_t to[EPF_OWN_MAX];   /* and one past its last (files of up to 16 TiB; larger: overflow) */
};
/* Records [off, off + len) as read by the shim. */
void epf_own_add(struct epf_own *own, uint64_t off, uint64_t len);

/* An open file whose fstat is done only when needed (objects without a note never need it). */
struct epf_file {
  int fd;
  int have_st;
  struct stat st;
  struct epf_own own; /* what the shim read of it: declare the file zeroed ({.fd = ...}) */
};

/*
 * Records a read of [off, off + len) beyond the file's head (a note, program headers or note
 * segments outside it), after asking the kernel, at the first such read, to read nothing ahead of
 * the shim's reads of this open file (POSIX_FADV_RANDOM; readahead(2) and WILLNEED do not heed
 * it): a note read right after its header looks sequential to the kernel, which then brings pages
 * past it into the page cache that `own` does not know of. The head's read-ahead is one block
 * from page 0, and a lone 24-byte probe for a note header far from it is read as its page alone;
 * those need no advice, so a file without a note gets none.
 */
void epf_own_read(struct epf_file *f, uint64_t off, uint64_t len);

int epf_file_stat(struct epf_file *f);

/*
 * open(path, O_RDONLY | O_CLOEXEC | flags) as one openat system call: musl's open() follows an
 * O_CLOEXEC open with an fcntl setting it again (for kernels before 2.6.23), a system call more
 * per file in the exec wrapper. With O_LARGEFILE, which open() adds on 32-bit machines (musl
 * always; glibc with _FILE_OFFSET_BITS=64). -1 on failure, errno set.
 */
int epf_open_ro(const char *path, int flags);

/*
 * Opens a regular file for reading. Paths that come from a note are untrusted: they are
 * stat()ed first so a device or FIFO is never opened (an open can have side effects).
 */
int epf_open_regular(const char *path, struct stat *st, int untrusted);

/*
 * epf_open_regular(path, st, 1) for a path looked up beneath root_fd (openat2 RESOLVE_IN_ROOT:
 * ".." and absolute symbolic links stay inside it). Before Linux 5.6 (no openat2) it opens
 * nothing.
 */
int epf_open_regular_in(int root_fd, const char *path, struct stat *st);

/* Reads exactly len bytes at off, or fails. */
int epf_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* The first EPF_HEAD_BYTES of the file (fewer at its end); -1 on a read error. */
ssize_t epf_read_head(int fd, uint8_t *head);

/*
 * [off, off + len) of the file: from the head buffer when it holds them, else (inside the file
 * and at most EPF_MAX_NOTE_SEGMENT + EPF_MAX_PHDR_BYTES long) read into r. NULL when out of bounds.
 */
const uint8_t *epf_file_bytes(struct epf_file *f, const uint8_t *head, size_t head_len, uint64_t off, uint64_t len, struct epf_region *r);

/*
 * A page of scratch memory for a file's head or a library's path, off the stack: the shim runs
 * inside la_objopen on whatever thread calls dlopen, whose stack may be small. A process has
 * EPF_PAGES of them in .bss, claimed with an atomic exchange (never a lock: the dlopen path must
 * not wait); when all are taken (threads prefetching at once) one is mapped, as the bytes
 * outside a file's head are. Not malloc: the shim must not enter the allocator of the program it
 * runs in, nor, in the audit form, from inside ld.so. NULL when there is no page to be had.
 */
#define EPF_PAGES 2
struct epf_page {
  uint8_t *b; /* EPF_HEAD_BYTES */
  int slot;   /* its slot in the pool; -1: mapped */
};

uint8_t *epf_page_get(struct epf_page *p);
void epf_page_put(struct epf_page *p);

/* Adds the file to `seen` (may be NULL) unless it is there or `seen` is full. */
void epf_seen_add(struct epf_seen *seen, const struct stat *st);

#endif
