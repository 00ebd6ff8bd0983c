/*
 * elfprefetch loader shim core: finds a file's elfprefetch note (docs/FORMAT.md), checks that it
 * belongs to the file, and prefetches its page sets with readahead(2) in a few large requests.
 * Used by the exec wrapper, the LD_AUDIT library, the LD_PRELOAD library and the daemon. C99 + libc
 * only. This header is the core's interface; the files behind it are listed in shim/core.mk.
 *
 * Never changes what the host program does: every length is checked against the bytes read,
 * errno is restored, every fd is closed, nothing is allocated beyond a few pages that are
 * unmapped again, and any problem means doing nothing (silently, unless ELFPREFETCH_DEBUG=1).
 */
#ifndef EPF_PREFETCH_H
#define EPF_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#include <link.h>
#include <sys/stat.h>

#include "epf_plan.h"

/* Bounds on what the shim reads: the program header table and one note segment. */
#define EPF_MAX_PHDR_BYTES (64u << 10)
#define EPF_MAX_NOTE_SEGMENT (1u << 20)
/* How many files one process remembers as prefetched already (audit, preload). */
#define EPF_MAX_SEEN 256

/* The sidecar directory (docs/FORMAT.md section 8) unless ELFPREFETCH_SIDECAR names another;
 * `make -C shim SIDECAR_DIR=/path` compiles in another. Absolute, at most EPF_MAX_SIDECAR_DIR bytes. */
#ifndef EPF_SIDECAR_DIR
#define EPF_SIDECAR_DIR "/var/lib/elfprefetch/sidecar"
#endif
#define EPF_MAX_SIDECAR_DIR 1024

/* Libraries whose first request goes out before any library is checked (shim step 8). */
#define EPF_EARLY_LIBRARIES 64

/* The descriptors of those libraries, kept from their first request to their check (o->held). */
struct epf_held {
  int fd[EPF_EARLY_LIBRARIES];
  struct stat st[EPF_EARLY_LIBRARIES];
};

/* What the environment asks for (all ignored in secure mode). */
struct epf_options {
  int disabled;
  int debug;
  char set[65];
  size_t set_len;
  const struct epf_device *device; /* forced device class, or NULL to detect it */
  int residency;                   /* leave out requests whose pages are cached (ELFPREFETCH_RESIDENCY=0: no) */
  char sidecar[EPF_MAX_SIDECAR_DIR + 1]; /* the sidecar directory; empty: none */
  /* Set by the daemon only (epf_options_load leaves them 0, the shim's behaviour): */
  uint64_t *budget;  /* bytes it may still request; a request that does not fit is not issued */
  int skip_resident; /* a file whose own set is in the page cache (every request, by the residency rule) is left alone, libraries too */
  /* Set to 1 when the file has a usable note of its own, or a sidecar, usable or not (a sidecar can
   * be mended or replaced without the file changing): a file that may be worth looking at again. */
  int *watch;
  /* Library paths are looked up inside this root (an O_PATH descriptor of /proc/PID/root of a
   * process in a container: another root or mount namespace than the caller's), never outside. */
  int in_root;
  int root_fd;
  /* Called once the program's set and every library's first request are queued, before the
   * libraries are checked (the daemon answers a permission event there), and already after the
   * program's first request when that was cached (a warm start); may be called more than once,
   * or not at all. */
  void (*queued)(void *ctx);
  void *queued_ctx;
  /* Called with a file's own note (its descriptor's used bytes, not a sidecar's) once it is checked
   * and found usable, before anything is read ahead: the daemon keeps it, so that the next exec
   * of the same unchanged file needs no read of the note (epf_prefetch_known). */
  void (*usable_note)(void *ctx, const uint8_t *desc, size_t len);
  void *usable_note_ctx;
  /* Where a library opened for its first request stays open until its check, instead of being
   * looked up and opened again (the daemon: two path walks, opens and fstats fewer per library).
   * Set by the exec wrapper and by the auditor's la_version, before any code of the program
   * runs; NULL once it runs (la_objopen, preload): holding no descriptor between the two, they
   * never take one from a program near its descriptor limit. */
  struct epf_held *held;
  /* Set by the daemon only: libraries whose build it has checked before. checked_before says
   * whether the open library (fd, its fstat) was found to be the build the note names (build-id and
   * layout digest) while its identity was what it is now; then its headers are not read again
   * and its set is requested at once. checked is told of each library whose check passed. */
  int (*checked_before)(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);
  void (*checked)(void *ctx, int fd, const struct stat *st, const uint8_t *build_id, uint32_t build_id_len, uint64_t layout);
  void *checked_ctx;
};

/* Reads ELFPREFETCH_DISABLE, _DEBUG, _SET, _DEVICE, _RESIDENCY and _SIDECAR unless getauxval(AT_SECURE) is
 * set (then the compiled-in sidecar directory is still used, like the notes in files). */
void epf_options_load(struct epf_options *o);

/* The files one process prefetched already, by device and inode. */
struct epf_seen {
  uint32_t count;
  struct {
    uint64_t dev, ino;
  } file[EPF_MAX_SEEN];
};

/*
 * Prefetches the file at `path` from its own note: object 0's page set and the library sets
 * (objects 1..n, each checked against the library file's identity). A file without a note of
 * its own, or with only an empty reservation, uses its sidecar instead, if it has one
 * (docs/FORMAT.md section 8). Files already in `seen` are skipped and the ones prefetched are
 * added (seen may be NULL). Returns the number of files prefetched; 0 when there was nothing
 * to do or any problem; -1 when `path` could not be opened.
 */
int epf_prefetch_path(const char *path, const struct epf_options *o, struct epf_seen *seen);

/*
 * The same for a file the kernel or ld.so has mapped (so it is a regular file): it is not
 * fstat()ed unless it has a note or a sidecar, so an object without either costs open, pread,
 * close and one failed lstat of its sidecar (none when the sidecar directory is missing).
 */
int epf_prefetch_loaded(const char *path, const struct epf_options *o, struct epf_seen *seen);

/*
 * The same for an object that is loaded already: its note and build-id are read from memory
 * (base + p_vaddr of its PT_NOTE, which must lie in the file-backed part of a PT_LOAD), its
 * layout digest from `phdr`; `path` is the file opened for readahead. Objects without a note
 * cost no system call but the failed lstat of their sidecar (none when the directory is missing).
 */
int epf_prefetch_mapped(const char *path, ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, const struct epf_options *o, struct epf_seen *seen);

/*
 * The same for a file opened by the caller (the daemon: the program fanotify hands it). `label`
 * names it in diagnostics. The descriptor is left open.
 */
int epf_prefetch_fd(int fd, const char *label, const struct epf_options *o, struct epf_seen *seen);

/*
 * The same for a file opened by the caller whose own note the caller already has: `desc` holds
 * its descriptor bytes, as usable_note gave them for this very file (same file system, inode,
 * size, mtime and ctime: the caller's to check). Nothing of the file is read but its pages'
 * residency; the note's bytes are validated again before they are used: -1 when they do not
 * open (the caller then forgets them and uses epf_prefetch_fd).
 */
int epf_prefetch_known(int fd, const struct stat *st, const char *label, const uint8_t *desc, size_t len, const struct epf_options *o, struct epf_seen *seen);

/*
 * For a long-lived caller (the daemon), which serves many processes: epf_new_process starts a
 * new process's bound on the bytes read ahead of libraries that then failed their build check
 * (EPF_UNCHECKED_BUDGET); epf_recheck_sidecar_dir forgets whether the sidecar directory exists,
 * so one made after the daemon started is seen.
 */
void epf_new_process(void);
void epf_recheck_sidecar_dir(void);

/* Whether the file (device, inode) is in `seen`. */
int epf_seen_has(const struct epf_seen *seen, uint64_t dev, uint64_t ino);

/* One diagnostic line on stderr, "elfprefetch: <file>: <a><b>", when o->debug is set. */
void epf_debug(const struct epf_options *o, const char *file, const char *a, const char *b);

#endif
