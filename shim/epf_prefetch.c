/*
 * The loader shim core's entry points (epf_prefetch.h): a file by path, by descriptor, or loaded
 * in memory; its own note when it has one (even stale or corrupt: then nothing is done), else its
 * sidecar. docs/FORMAT.md sections 2 and 4 are the rules; docs/SHIM.md says what happens, step
 * by step. Reads at most the ELF header, the program header table and the note segments of a
 * file (epf_inspect.c), validates the note with epf_note_open, checks the build identity and
 * issues readahead(2) requests planned by the coalescer (epf_issue.c).
 */
#define _GNU_SOURCE
#include "epf_prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epf_file.h"
#include "epf_inspect.h"
#include "epf_issue.h"
#include "epf_note.h"
#include "epf_sidecar.h"

/* "/proc/self/exe" as a readable name in diagnostics. */
static const char *self_label(const struct epf_options *o, const char *path, char *buf, size_t cap) {
  if (!o->debug || strcmp(path, "/proc/self/exe") != 0) return path;
  ssize_t n = readlink(path, buf, cap - 1);
  if (n <= 0) return path;
  buf[n] = 0;
  return buf;
}

/*
 * An open file whose identity is in id: its own note when it has one (even stale or corrupt:
 * then nothing is done), else its sidecar.
 */
static int use_file(const char *label, struct epf_file *f, struct epf_ident *id, const struct epf_options *o, struct epf_seen *seen) {
  const char *none = "no note";
  if (id->note_found) {
    if (epf_file_stat(f) != 0) {
      epf_debug(o, label, "not a regular file", 0);
      return 0;
    }
    if (epf_seen_has(seen, f->st.st_dev, f->st.st_ino)) {
      epf_debug(o, label, "prefetched already", 0);
      return 0;
    }
    struct epf_note n;
    int k = epf_check_note(&n, id->note, id->note_len, id);
    if (k == EPF_NOTE_OK) {
      if (o->watch) *o->watch = 1;
      if (o->usable_note) o->usable_note(o->usable_note_ctx, id->note, n.used); /* the rest is zero */
      return epf_prefetch_note(label, 0, f->fd, &f->st, &f->own, &n, o, seen);
    }
    if (k != EPF_NOTE_EMPTY) {
      epf_debug(o, label, epf_note_why[k], 0);
      return 0;
    }
    none = epf_note_why[EPF_NOTE_EMPTY];
  }
  struct epf_sidecar sc;
  if (!epf_find_sidecar(label, none, id, 0, 0, o, &sc)) return 0;
  int count = 0;
  if (epf_file_stat(f) != 0) epf_debug(o, label, "not a regular file", 0);
  else count = epf_prefetch_note(label, sc.path, f->fd, &f->st, &f->own, &sc.n, o, seen);
  epf_region_release(&sc.r);
  return count;
}

/* An open file, from its note or sidecar (the caller closes it). */
static int prefetch_open(const char *label, struct epf_file *f, const struct epf_options *o, struct epf_seen *seen) {
  struct epf_page head;
  if (!epf_page_get(&head)) {
    epf_debug(o, label, "no memory to read it", 0);
    return 0;
  }
  struct epf_ident id;
  int count = 0;
  const char *why = epf_inspect_file(f, head.b, &id, 1);
  if (why) epf_debug(o, label, why, 0);
  else count = use_file(label, f, &id, o, seen);
  epf_ident_release(&id);
  epf_page_put(&head);
  return count;
}

/* A file by path: `loaded` files (mapped by the kernel or ld.so) are fstat()ed only if they have a note or a sidecar. */
static int prefetch_path(const char *path, const struct epf_options *o, struct epf_seen *seen, int loaded) {
  if (o->disabled || !path) return 0;
  int saved = errno, count = 0;
  char name[256];
  const char *label = self_label(o, path, name, sizeof name);
  struct epf_file f = {.have_st = !loaded};
  f.fd = loaded ? epf_open_ro(path, O_NONBLOCK | O_NOCTTY) : epf_open_regular(path, &f.st, 0);
  if (f.fd < 0) {
    epf_debug(o, label, "cannot open", 0);
    count = -1;
  } else {
    count = prefetch_open(label, &f, o, seen);
    close(f.fd);
  }
  errno = saved;
  return count;
}

int epf_prefetch_path(const char *path, const struct epf_options *o, struct epf_seen *seen) { return prefetch_path(path, o, seen, 0); }

int epf_prefetch_fd(int fd, const char *label, const struct epf_options *o, struct epf_seen *seen) {
  if (o->disabled || fd < 0) return 0;
  int saved = errno;
  struct epf_file f = {.fd = fd};
  int count = prefetch_open(label, &f, o, seen);
  errno = saved;
  return count;
}

int epf_prefetch_known(int fd, const struct stat *st, const char *label, const uint8_t *desc, size_t len, const struct epf_options *o, struct epf_seen *seen) {
  if (o->disabled || fd < 0 || !S_ISREG(st->st_mode)) return 0;
  int saved = errno, count = 0;
  struct epf_note n;
  /* The caller's copy could only be wrong by its own fault (a damaged cache): it then reads the file. */
  if (epf_note_open(&n, desc, len) != EPF_OK || n.empty) {
    epf_debug(o, label, "the kept note is unusable", 0);
    count = -1;
  } else {
    if (o->watch) *o->watch = 1;
    count = epf_prefetch_note(label, 0, fd, st, 0, &n, o, seen);
  }
  errno = saved;
  return count;
}

int epf_prefetch_loaded(const char *path, const struct epf_options *o, struct epf_seen *seen) { return prefetch_path(path, o, seen, 1); }

int epf_prefetch_mapped(const char *path, ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, const struct epf_options *o, struct epf_seen *seen) {
  if (o->disabled || !path) return 0;
  int saved = errno, count = 0;
  struct epf_ident id;
  char name[256];
  const char *label = self_label(o, path, name, sizeof name);
  const char *why = epf_inspect_mapped(base, phdr, phnum, &id);
  /* A note beside the segments is read from the file; so is the main program's when none is in
   * memory, since a note after its last PT_LOAD lies in the page the loader zeroed (its note names
   * the libraries: one open and pread per process is worth it). */
  if (!why && (id.note_beside || (!id.note_found && strcmp(path, "/proc/self/exe") == 0))) {
    errno = saved;
    return prefetch_path(path, o, seen, 1);
  }
  struct epf_note own;
  struct epf_sidecar sc;
  sc.r.map = 0;
  sc.r.len = 0;
  const struct epf_note *n = 0;
  const char *via = 0;
  if (why) {
    epf_debug(o, label, why, 0);
  } else if (id.note_found) {
    int k = epf_check_note(&own, id.note, id.note_len, &id);
    if (k == EPF_NOTE_OK) n = &own;
    else if (k != EPF_NOTE_EMPTY) epf_debug(o, label, epf_note_why[k], 0);
    else if (epf_find_sidecar(label, epf_note_why[EPF_NOTE_EMPTY], &id, (const uint8_t *)phdr, phnum, o, &sc)) n = &sc.n, via = sc.path;
  } else if (epf_find_sidecar(label, "no note", &id, (const uint8_t *)phdr, phnum, o, &sc)) {
    n = &sc.n;
    via = sc.path;
  }
  if (n) {
    struct stat st;
    int fd = epf_open_regular(path, &st, 0);
    if (fd < 0) {
      epf_debug(o, label, "cannot open", 0);
    } else {
      count = epf_prefetch_note(label, via, fd, &st, 0, n, o, seen);
      close(fd);
    }
  }
  epf_region_release(&sc.r);
  errno = saved;
  return count;
}
