/* Issuing a note's requests (epf_issue.h). */
#define _GNU_SOURCE
#include "epf_issue.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "epf_devclass.h"
#include "epf_file.h"
#include "epf_inspect.h"
#include "epf_line.h"
#include "epf_resident.h"

/* What a set's requests came to: issued, or left out because their pages were cached already. */
struct tally {
  uint32_t issued, cached;
  uint64_t issued_bytes, cached_bytes;
  int fadvise; /* a file system without readahead: the rest went through fadvise */
};

struct ra {
  int fd;
  uint32_t from, to; /* only requests from..to-1 of the plan (to 0: to the end) */
  uint32_t seen;     /* requests planned so far */
  int look;          /* residency: 0 not decided yet, 1 look at each request, -1 issue all unlooked */
  struct epf_resident c;
  struct tally *t;
  uint64_t *budget;  /* the caller's byte budget (o->budget, the daemon's), or NULL */
};

/*
 * A request is left out when the pages at both its ends are cached: a merged request starts and
 * ends with pages of the set, and a set's pages are cached together by whatever read them last
 * (a start, or this shim). Two one-page checks cost about a microsecond; checking every page would
 * cost about as much as the readahead call it saves (docs/SHIM.md). The first request decides for
 * the rest: if its last page is not cached the file is taken as cold and everything is issued
 * without looking again, so a cold start pays one check per set.
 */
static void issue(void *ctx, uint64_t off, uint64_t len) {
  struct ra *r = ctx;
  uint32_t k = r->seen++;
  if (k < r->from || (r->to && k >= r->to)) return;
  if (r->look >= 0) {
    int first = r->look == 0, cached = epf_page_cached(&r->c, off + len - 1);
    if (first) r->look = cached ? 1 : -1;
    if (cached && epf_page_cached(&r->c, off)) {
      r->t->cached++;
      r->t->cached_bytes += len;
      return;
    }
  }
  if (r->budget) {
    if (*r->budget < len) {
      *r->budget = 0; /* spent: later, smaller requests are not issued either */
      return;
    }
    *r->budget -= len;
  }
  r->t->issued++;
  r->t->issued_bytes += len;
  if (!r->t->fadvise) {
    if (readahead(r->fd, (off64_t)off, (size_t)len) == 0) return;
    r->t->fadvise = 1;
  }
  posix_fadvise(r->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

/* " (sidecar PATH)" after a diagnostic about a note read from a sidecar. */
static void put_via(struct epf_line *l, const char *via) {
  if (!via) return;
  epf_put(l, " (sidecar ");
  epf_put(l, via);
  epf_put(l, ")");
}

/*
 * The debug line of a set: what was issued, or why nothing was. Its own frame (not inlined), so
 * the line's buffer is not on the stack while the requests are planned and issued.
 */
__attribute__((noinline)) static void say_prefetched(const char *label, const char *via, const struct epf_options *o, int e, const struct epf_plan *p, const struct epf_devpick *dp, const struct tally *t) {
  struct epf_line l;
  l.n = 0;
  epf_put(&l, "elfprefetch: ");
  epf_put(&l, label);
  if (e != EPF_OK) {
    epf_put(&l, ": no page set named ");
    epf_put(&l, o->set);
  } else {
    epf_put(&l, ": prefetched ");
    epf_put_u64(&l, p->runs);
    epf_put(&l, " runs, ");
    epf_put_u64(&l, t->issued_bytes);
    epf_put(&l, " bytes in ");
    epf_put_u64(&l, t->issued);
    epf_put(&l, " requests (");
    epf_put(&l, dp->dev->name);
    if (dp->why) {
      epf_put(&l, dp->loop ? ": loop device on " : ": ");
      epf_put(&l, dp->why);
    }
    epf_put(&l, t->fadvise ? ", fadvise)" : ")");
    if (t->cached) {
      epf_put(&l, ", ");
      epf_put_u64(&l, t->cached);
      epf_put(&l, " requests of ");
      epf_put_u64(&l, t->cached_bytes);
      epf_put(&l, " bytes cached already");
    }
  }
  put_via(&l, via);
  epf_line_emit(&l);
}

/*
 * Prefetches page set o->set of object `index` of note n from fd: the plan's requests from..to-1
 * (to 0: all the rest; only then is the diagnostic line written), adding what it did to *t.
 * Requests whose pages are cached already are left out (issue() above). Returns 1 if the set exists.
 */
static int prefetch_requests(const char *label, const char *via, int fd, const struct stat *st, const struct epf_note *n, uint32_t index, const struct epf_options *o, uint32_t from, uint32_t to, struct tally *t) {
  struct epf_devpick dp = epf_device_for(o, fd, st);
  struct ra r = {fd, from, to, 0, o->residency ? 0 : -1, {fd, (uint64_t)st->st_size, 0}, t, o->budget};
  struct epf_plan plan;
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, dp.dev, issue, &r);
  int e = epf_note_runs(n, index, o->set, o->set_len, epf_plan_run, &plan);
  if (e == EPF_OK) epf_plan_finish(&plan);
  epf_resident_release(&r.c);
  if (!o->debug || to) return e == EPF_OK;
  say_prefetched(label, via, o, e, &plan, &dp, t);
  return e == EPF_OK;
}

static int prefetch_set(const char *label, const char *via, int fd, const struct stat *st, const struct epf_note *n, uint32_t index, const struct epf_options *o) {
  struct tally t;
  memset(&t, 0, sizeof t);
  return prefetch_requests(label, via, fd, st, n, index, o, 0, 0, &t);
}

/*
 * Bytes read ahead of libraries that then failed their build check (another build, not ELF):
 * once a process has wasted this much, libraries are checked before any of their pages is
 * read, so a hostile or stale note costs at most this (plus one request) per process.
 */
#define EPF_UNCHECKED_BUDGET (4u << 20)
static uint64_t unchecked_wasted;

/* The page holds a library's path (NUL-terminated) or, while its headers are checked, its head. */
typedef char epf_path_fits_page[EPF_MAX_PATH + 1 <= EPF_HEAD_BYTES ? 1 : -1];

static void put_path(char *page, const struct epf_object *obj) {
  memcpy(page, obj->path, obj->path_len);
  page[obj->path_len] = 0;
}

/* An open library not prefetched yet: its first request, the build check, the rest of its set. */
static int check_library(const struct epf_note *n, uint32_t index, const struct epf_object *obj, char *page, struct epf_file *f, const char *via, const struct epf_options *o, struct epf_seen *seen) {
  struct epf_ident id;
  struct tally t;
  memset(&t, 0, sizeof t);
  uint32_t first = 0;
  int done = 0;
  if (__atomic_load_n(&unchecked_wasted, __ATOMIC_RELAXED) < EPF_UNCHECKED_BUDGET) {
    prefetch_requests(page, via, f->fd, &f->st, n, index, o, 0, 1, &t);
    first = 1;
  }
  const char *why = epf_inspect_file(f, (uint8_t *)page, &id, 0);
  put_path(page, obj); /* the head is not needed any more: the path again, for what follows */
  if (!why && !epf_same_build(obj, &id)) why = "the library is another build than the note's";
  if (why) {
    epf_debug(o, page, why, 0);
    __atomic_add_fetch(&unchecked_wasted, t.issued_bytes, __ATOMIC_RELAXED);
  } else if ((done = prefetch_requests(page, via, f->fd, &f->st, n, index, o, first, 0, &t))) {
    epf_seen_add(seen, &f->st);
  }
  epf_ident_release(&id);
  return done;
}

/*
 * Object `index` (a library) of note n: open its path, check its build, prefetch its set. The
 * set's first request goes out before the check: it nearly always holds the headers the check
 * reads, which then wait for that request instead of costing one more (a synchronous one: about
 * a third of gdb's requests under the hdd model, docs/BENCHMARKS.md). A library of another
 * build costs that one request, and such waste is capped per process (EPF_UNCHECKED_BUDGET).
 */
static int prefetch_library(const struct epf_note *n, uint32_t index, const char *via, const struct epf_options *o, struct epf_seen *seen) {
  struct epf_object obj;
  if (epf_note_object(n, index, &obj) != EPF_OK || obj.path_len == 0 || obj.path_len >= EPF_MAX_PATH + 1) return 0;
  struct epf_page pg;
  char *path = (char *)epf_page_get(&pg);
  if (!path) return 0;
  put_path(path, &obj);
  int done = 0;
  struct epf_file f;
  f.have_st = 1;
  if (path[0] != '/' || strlen(path) != obj.path_len) {
    epf_debug(o, path, "library path is not absolute", 0);
  } else if ((f.fd = epf_open_regular(path, &f.st, 1)) < 0) {
    epf_debug(o, path, "cannot open the library", 0);
  } else {
    if (epf_seen_has(seen, f.st.st_dev, f.st.st_ino)) epf_debug(o, path, "prefetched already", 0);
    else done = check_library(n, index, &obj, path, &f, via, o, seen);
    close(f.fd);
  }
  epf_page_put(&pg);
  return done;
}

/* Residency of a whole set (the daemon's o->skip_resident). */

struct whole {
  struct epf_resident c;
  int missing; /* a request with an end not cached */
};

/* The rule of issue(): a request counts as cached when the pages at both its ends are. */
static void check_resident(void *ctx, uint64_t off, uint64_t len) {
  struct whole *w = ctx;
  if (!w->missing && !(epf_page_cached(&w->c, off + len - 1) && epf_page_cached(&w->c, off))) w->missing = 1;
}

/* Whether every request planned for object 0's set is in the page cache already. */
static int set_resident(int fd, const struct stat *st, const struct epf_note *n, const struct epf_options *o) {
  struct whole w = {{fd, (uint64_t)st->st_size, 0}, 0};
  struct epf_plan plan;
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, epf_device_for(o, fd, st).dev, check_resident, &w);
  int ok = epf_note_runs(n, 0, o->set, o->set_len, epf_plan_run, &plan) == EPF_OK;
  if (ok) epf_plan_finish(&plan);
  epf_resident_release(&w.c);
  return ok && plan.requests > 0 && !w.missing;
}

int epf_prefetch_note(const char *label, const char *via, int fd, const struct stat *st, const struct epf_note *n, const struct epf_options *o, struct epf_seen *seen) {
  int count = 0;
  if (o->skip_resident && set_resident(fd, st, n, o)) {
    epf_debug(o, label, "resident already", 0);
    return 0;
  }
  if (epf_seen_has(seen, st->st_dev, st->st_ino)) {
    epf_debug(o, label, "prefetched already", 0);
  } else if (prefetch_set(label, via, fd, st, n, 0, o)) {
    epf_seen_add(seen, st);
    count++;
  }
  for (uint32_t i = 1; i < n->object_count; i++) count += prefetch_library(n, i, via, o, seen);
  return count;
}
