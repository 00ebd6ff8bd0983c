/* Sidecar files (epf_sidecar.h, docs/FORMAT.md section 8). */
#define _GNU_SOURCE
#include "epf_sidecar.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epf_file.h"
#include "epf_line.h"

typedef char epf_sidecar_path_fits_page[EPF_SIDECAR_PATH_MAX <= EPF_HEAD_BYTES ? 1 : -1];

/* Why a sidecar's note does not do, by epf_check_note's answer. */
static const char *const sidecar_why[] = {"", "an empty note", "a note of another format version", "corrupt", "another build-id", "another layout"};

/*
 * Whether the sidecar directory exists. It is stat()ed at the first lookup and remembered for
 * the process, so a system without sidecars pays one failed stat per process, not one per object
 * (a directory made while a process runs is seen by the processes started after it).
 */
static uint32_t checked; /* FNV-1a of the directory checked (| 1), 0 for none yet */
static int present;

void epf_recheck_sidecar_dir(void) { __atomic_store_n(&checked, 0, __ATOMIC_RELEASE); }

static int sidecar_dir_present(const struct epf_options *o) {
  if (!o->sidecar[0]) return 0;
  uint32_t h = (uint32_t)epf_fnv1a64(EPF_FNV_OFFSET, (const uint8_t *)o->sidecar, strlen(o->sidecar)) | 1;
  if (__atomic_load_n(&checked, __ATOMIC_ACQUIRE) != h) {
    struct stat st;
    __atomic_store_n(&present, stat(o->sidecar, &st) == 0 && S_ISDIR(st.st_mode), __ATOMIC_RELAXED);
    __atomic_store_n(&checked, h, __ATOMIC_RELEASE);
  }
  return __atomic_load_n(&present, __ATOMIC_RELAXED);
}

/* path = DIR/hh/rest.note for the file's build-id; 0 when it has none of 2 to 64 bytes. */
static int sidecar_path(const struct epf_options *o, const struct epf_ident *id, char *path) {
  static const char hex[] = "0123456789abcdef";
  size_t n = strlen(o->sidecar);
  if (id->bid_len < 2 || id->bid_len > EPF_MAX_BUILD_ID || n == 0 || n > EPF_MAX_SIDECAR_DIR) return 0;
  char *p = path;
  memcpy(p, o->sidecar, n);
  p += n;
  *p++ = '/';
  for (uint32_t i = 0; i < id->bid_len; i++) {
    *p++ = hex[id->bid[i] >> 4];
    *p++ = hex[id->bid[i] & 15];
    if (i == 0) *p++ = '/';
  }
  memcpy(p, ".note", 6);
  return 1;
}

/* Not there at all: the ordinary case, said as "no note". */
static const char sidecar_absent[] = "";

/*
 * Reads the sidecar at `path` into sc->r if it is one the shim may use: lstat()ed first, so a
 * symbolic link, device or FIFO is never opened; then opened without following a link and
 * checked by fstat (the file lstat saw, regular, owned by root or the effective user, not
 * writable by group or others, 24 bytes to 1 MiB). The path is kept after the note's bytes in the
 * same mapping, for the diagnostics of every library the note names: not on the stack, which
 * must stay shallow under them. NULL on success, else why not.
 */
static const char *read_sidecar(const char *path, struct epf_sidecar *sc) {
  struct stat pre, st;
  if (lstat(path, &pre) != 0) return errno == ENOENT || errno == ENOTDIR ? sidecar_absent : "cannot stat it";
  if (S_ISLNK(pre.st_mode)) return "a symbolic link";
  if (!S_ISREG(pre.st_mode)) return "not a regular file";
  int fd = epf_open_ro(path, O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno == ELOOP ? "a symbolic link" : errno == ENOENT ? sidecar_absent : "cannot open it";
  const char *why = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) why = "not a regular file";
  else if (st.st_dev != pre.st_dev || st.st_ino != pre.st_ino) why = "replaced while it was opened";
  else if (st.st_uid != 0 && st.st_uid != geteuid()) why = "owned by another user than root or the process's";
  else if (st.st_mode & (S_IWGRP | S_IWOTH)) why = "writable by group or others";
  else if (st.st_size < EPF_HEADER_SIZE) why = "shorter than 24 bytes";
  else if ((uint64_t)st.st_size > EPF_MAX_DESC_SIZE) why = "longer than 1 MiB";
  else {
    size_t len = (size_t)st.st_size, plen = strlen(path) + 1;
    void *m = mmap(0, len + plen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      why = "no memory to read it";
    } else {
      sc->r.map = m;
      sc->r.len = len + plen;
      sc->size = len;
      sc->path = memcpy((char *)m + len, path, plen);
      if (epf_pread_full(fd, m, len, 0) != 0) why = "cannot read it (truncated?)";
    }
  }
  close(fd);
  return why;
}

/* "LABEL: NONE; sidecar PATH ignored: WHY" */
static void sidecar_debug(const struct epf_options *o, const char *label, const char *none, const char *path, const char *why) {
  if (!o->debug) return;
  struct epf_line l;
  l.n = 0;
  epf_put(&l, "elfprefetch: ");
  epf_put(&l, label);
  epf_put(&l, ": ");
  epf_put(&l, none);
  epf_put(&l, "; sidecar ");
  epf_put(&l, path);
  epf_put(&l, " ignored: ");
  epf_put(&l, why);
  epf_line_emit(&l);
}

int epf_find_sidecar(const char *label, const char *none, struct epf_ident *id, const uint8_t *ph, size_t phnum, const struct epf_options *o, struct epf_sidecar *sc) {
  sc->r.map = 0;
  sc->r.len = 0;
  sc->path = 0;
  struct epf_page page; /* the path, off the stack (EPF_SIDECAR_PATH_MAX bytes) */
  char *path = (char *)epf_page_get(&page);
  if (!path || !sidecar_path(o, id, path) || !sidecar_dir_present(o)) {
    epf_page_put(&page);
    epf_debug(o, label, none, 0);
    return 0;
  }
  const char *why = read_sidecar(path, sc);
  if (why != sidecar_absent && o->watch) *o->watch = 1; /* a sidecar can be mended: look again */
  if (!why) {
    if (!id->have_layout && ph) {
      id->layout = epf_layout_digest(ph, phnum);
      id->have_layout = 1;
    }
    int k = id->have_layout ? epf_check_note(&sc->n, sc->r.map, sc->size, id) : EPF_NOTE_CORRUPT;
    if (k == EPF_NOTE_OK) {
      epf_page_put(&page);
      return 1;
    }
    why = sidecar_why[k];
  }
  epf_region_release(&sc->r);
  if (why == sidecar_absent) epf_debug(o, label, none, 0);
  else sidecar_debug(o, label, none, path, why);
  epf_page_put(&page);
  return 0;
}
