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
  int look;    /* residency: 0 not decided yet, 1 look at each request, -1 issue all unlooked */
  uint32_t quick;       /* of `cached`: requests of the warm look's plan (warm_look below), not the device's */
  uint64_t quick_bytes; /* and their bytes */
};

struct ra {
  int fd;
  uint32_t from, to; /* only requests from..to-1 of the plan (to 0: to the end) */
  uint32_t seen;     /* requests planned so far */
  struct epf_resident c;
  struct tally *t;
  uint64_t *budget;  /* the caller's byte budget (o->budget, the daemon's), or NULL */
};

/*
 * A request is left out when the pages at both its ends are cached: a merged request starts and
 * ends with pages of the set, and a set's pages are cached together by whatever read them last
 * (a start, or this shim). Two one-page checks cost about a microsecond; checking every page would
 * cost about as much as the readahead call it saves (docs/SHIM.md). The first request looked at
 * decides for the rest (*look, struct tally's): if its last page is not cached the file is taken
 * as cold and everything is issued without looking again, so a cold start pays one check per set
 * (the decision is kept in the tally, which the calls issuing parts of one set share).
 * The ends are the first and last pages the shim did not read itself (c->own: its head, its
 * note): a request from the headers to the note's page is cached at both ends by the shim's own
 * reads on a cold start. A request the shim read all of is cached (the headers alone, often: the
 * file is then checked request by request, as a warm one).
 */
static int request_cached(struct epf_resident *c, int *look, uint64_t off, uint64_t len) {
  uint64_t first = off, last = off + len - 1;
  int k = epf_resident_narrow(c, &first, &last);
  if (k == 0) { /* the shim read all of it: cached, and the file is looked at request by request */
    if (*look == 0) *look = 1;
    return 1;
  }
  if (k < 0) {
    *look = -1;
    return 0;
  }
  int end = epf_page_cached(c, last);
  if (*look == 0) *look = end ? 1 : -1;
  return end && (first == last || epf_page_cached(c, first));
}

static void issue(void *ctx, uint64_t off, uint64_t len) {
  struct ra *r = ctx;
  uint32_t k = r->seen++;
  if (k < r->from || (r->to && k >= r->to)) return;
  if (r->t->look >= 0 && request_cached(&r->c, &r->t->look, off, len)) {
    r->t->cached++;
    r->t->cached_bytes += len;
    return;
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
    /* No cast: the offset is off64_t in glibc, off_t (64-bit) in musl, which has no off64_t since 1.2.4. */
    if (readahead(r->fd, off, (size_t)len) == 0) return;
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
 * The debug line of a set: what was issued, or why nothing was (dp NULL: the warm look found
 * every request cached and the device was not looked at). Its own frame (not inlined), so
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
    if (!dp) { /* the warm look left out every request */
      if (o->device) {
        epf_put(&l, o->device->name);
        epf_put(&l, ", ");
      }
      epf_put(&l, "device not looked at)");
    } else {
      epf_put(&l, dp->dev->name);
      if (dp->why) {
        epf_put(&l, dp->loop ? ": loop device on " : ": ");
        epf_put(&l, dp->why);
      }
      epf_put(&l, ", requests <= ");
      epf_put_u64(&l, dp->cap >> 10);
      epf_put(&l, " KiB");
      epf_put(&l, t->fadvise ? ", fadvise)" : ")");
    }
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
 * The warm look: most starts are warm, and finding a file's device class and request cap costs
 * three or four sysfs reads, 25-40 us of a warm start (more than the residency checks of a whole
 * program). So before the device is looked at, the set's requests from..to-1 are planned for the
 * class ELFPREFETCH_DEVICE names, else ssd, with the largest request size, and checked by the rule
 * of issue(). If every one is cached the set is done, without the device. A coarser plan (hdd,
 * net, a smaller cap) merges those requests or splits them inside runs, so its ends are theirs or
 * pages amid them; a finer one (nvme) differs only in holes of under 50 KB inside them. Otherwise
 * the checks stop at the first request with an end missing, and the set is planned for its device
 * as before, whose first request decides whether the file is cold (prefetch_requests).
 */
struct warm {
  struct epf_resident c;
  struct epf_plan *plan;
  uint32_t from, to, seen;
  uint32_t cached;
  uint64_t cached_bytes;
  int missing;
  struct tally *t;
};

static void warm_check(void *ctx, uint64_t off, uint64_t len) {
  struct warm *w = ctx;
  uint32_t k = w->seen++;
  if (w->missing || k < w->from) return;
  if (w->to && k >= w->to) {
    w->plan->done = 1; /* nothing more to look at: stop walking the runs */
    return;
  }
  if (!request_cached(&w->c, &w->t->look, off, len)) {
    w->missing = 1;
    w->plan->done = 1;
    return;
  }
  w->cached++;
  w->cached_bytes += len;
}

/* 1: every request from..to-1 is cached (added to *t); 0: not, or no such set. */
static int warm_look(int fd, const struct stat *st, const struct epf_own *own, const struct epf_note *n, uint32_t index, const struct epf_options *o, uint32_t from, uint32_t to, struct tally *t, struct epf_plan *plan) {
  struct warm w = {{fd, (uint64_t)st->st_size, 0, own}, plan, from, to, 0, 0, 0, 0, t};
  epf_plan_init(plan, (uint64_t)st->st_size, n->page_shift, o->device ? o->device : &epf_devices[EPF_DEV_SSD], EPF_MAX_REQUEST, warm_check, &w);
  int e = epf_note_runs(n, index, o->set, o->set_len, epf_plan_run, plan);
  if (e == EPF_OK && !w.missing) epf_plan_finish(plan);
  epf_resident_release(&w.c);
  if (e != EPF_OK || w.missing) return 0;
  t->cached += w.cached;
  t->cached_bytes += w.cached_bytes;
  t->quick += w.cached;
  t->quick_bytes += w.cached_bytes;
  return 1;
}

/*
 * Prefetches page set o->set of object `index` of note n from fd: the plan's requests from..to-1
 * (to 0: all the rest; only then is the diagnostic line written), adding what it did to *t.
 * Requests whose pages are cached already are left out (issue() above; warm_look first). Returns
 * 1 if the set exists.
 */
static int prefetch_requests(const char *label, const char *via, int fd, const struct stat *st, const struct epf_own *own, const struct epf_note *n, uint32_t index, const struct epf_options *o, uint32_t from, uint32_t to, struct tally *t) {
  struct epf_plan plan;
  if (!o->residency) t->look = -1;
  /* The warm look numbers requests by its own plan: after the first step it is tried only if it
   * did that step too. Failed, it leaves the first-request decision to the device's plan. */
  int look = t->look;
  if (look >= 0 && !t->issued && (from == 0 || t->quick)) {
    if (warm_look(fd, st, own, n, index, o, from, to, t, &plan)) {
      if (o->debug && !to) say_prefetched(label, via, o, EPF_OK, &plan, 0, t);
      return 1;
    }
    t->look = look;
  }
  if (t->quick && from > 0) {
    /* The first requests were the warm look's plan; the device's first request may be larger:
     * plan it again from the start (its ends are checked like any other request's). */
    t->cached -= t->quick;
    t->cached_bytes -= t->quick_bytes;
    from = 0;
  }
  t->quick = 0;
  t->quick_bytes = 0;
  struct epf_devpick dp = epf_device_for(o, fd, st);
  struct ra r = {fd, from, to, 0, {fd, (uint64_t)st->st_size, 0, own}, t, o->budget};
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, dp.dev, dp.cap, issue, &r);
  int e = epf_note_runs(n, index, o->set, o->set_len, epf_plan_run, &plan);
  if (e == EPF_OK) epf_plan_finish(&plan);
  epf_resident_release(&r.c);
  if (!o->debug || to) return e == EPF_OK;
  say_prefetched(label, via, o, e, &plan, &dp, t);
  return e == EPF_OK;
}

/*
 * Bytes read ahead of libraries that then failed their build check (another build, not ELF):
 * once a process has wasted this much, libraries are checked before any of their pages is
 * read, so a hostile or stale note costs at most this (plus one request) per process.
 */
#define EPF_UNCHECKED_BUDGET (4u << 20)
static uint64_t unchecked_wasted;

void epf_new_process(void) { __atomic_store_n(&unchecked_wasted, 0, __ATOMIC_RELAXED); }

/*
 * Shim step 8 (docs/SHIM.md): the first request of each library goes out before any library is
 * checked. It nearly always holds the headers the check reads, so the checks then wait for those
 * requests only, not for every earlier library's whole set (gdb's 60 checks, one behind the
 * other's set, held its start until nearly all of its I/O was done, and the daemon in notify
 * mode fell behind gdb's own faults). What the early request did is kept for the library's
 * diagnostic line and for its waste if its check fails; the first EPF_EARLY_LIBRARIES libraries
 * are handled so, later ones request first and check after, one by one.
 */

struct early {                /* 4 bytes: the array of them is on the stack of a dlopen */
  uint32_t bytes : 21;        /* of the first request (at most EPF_MAX_REQUEST): issued, or left out as cached */
  uint32_t done : 1;          /* the first request was planned and issued or left out as cached */
  uint32_t issued : 1;        /* it was issued (else cached) */
  uint32_t fadvise : 1;       /* through fadvise */
  uint32_t look : 2;          /* the residency decision it made (struct tally's look + 1) */
  uint32_t quick : 1;         /* left out by the warm look (struct tally's quick) */
};
typedef char epf_request_fits_early[EPF_MAX_REQUEST < (1u << 21) ? 1 : -1];

/* The page holds a library's path (NUL-terminated) or, while its headers are checked, its head. */
typedef char epf_path_fits_page[EPF_MAX_PATH + 1 <= EPF_HEAD_BYTES ? 1 : -1];

static void put_path(char *page, const struct epf_object *obj) {
  memcpy(page, obj->path, obj->path_len);
  page[obj->path_len] = 0;
}

/* An open library not prefetched yet: its first request (unless `e` says it went out early),
 * the build check, the rest of its set. */
static int check_library(const struct epf_note *n, uint32_t index, const struct epf_object *obj, char *page, struct epf_file *f, const char *via, const struct epf_options *o, struct epf_seen *seen, const struct early *e) {
  struct epf_ident id;
  struct tally t;
  memset(&t, 0, sizeof t);
  uint32_t first = 0;
  int done = 0;
  if (e && e->done) {
    first = 1;
    if (e->issued) t.issued = 1, t.issued_bytes = e->bytes;
    else t.cached = 1, t.cached_bytes = e->bytes;
    t.fadvise = e->fadvise;
    t.look = (int)e->look - 1;
    if (e->quick) t.quick = 1, t.quick_bytes = e->bytes;
  } else if (__atomic_load_n(&unchecked_wasted, __ATOMIC_RELAXED) < EPF_UNCHECKED_BUDGET) {
    prefetch_requests(page, via, f->fd, &f->st, &f->own, n, index, o, 0, 1, &t);
    first = 1;
  }
  const char *why = 0;
  if (o->checked_before && o->checked_before(o->checked_ctx, f->fd, &f->st, obj->build_id, obj->build_id_len, obj->layout_digest)) {
    memset(&id, 0, sizeof id); /* nothing read: the same file was this build when last checked */
  } else {
    why = epf_inspect_file(f, (uint8_t *)page, &id, 0);
    put_path(page, obj); /* the head is not needed any more: the path again, for what follows */
    if (!why && !epf_same_build(obj, &id)) why = "the library is another build than the note's";
    if (!why && o->checked) o->checked(o->checked_ctx, f->fd, &f->st, obj->build_id, obj->build_id_len, obj->layout_digest);
  }
  if (why) {
    epf_debug(o, page, why, 0);
    __atomic_add_fetch(&unchecked_wasted, t.issued_bytes, __ATOMIC_RELAXED);
  } else if ((done = prefetch_requests(page, via, f->fd, &f->st, &f->own, n, index, o, first, 0, &t))) {
    epf_seen_add(seen, &f->st);
  }
  epf_ident_release(&id);
  return done;
}

/* Library `index` of note n and its path, into `page` (NUL-terminated): -1 (having said why
 * unless `quiet`) when the path is not absolute. */
static int library_path(const struct epf_note *n, uint32_t index, struct epf_object *obj, char *page, const struct epf_options *o, int quiet) {
  if (epf_note_object(n, index, obj) != EPF_OK || obj->path_len == 0 || obj->path_len >= EPF_MAX_PATH + 1) return -1;
  put_path(page, obj);
  if (page[0] != '/' || strlen(page) != obj->path_len) {
    if (!quiet) epf_debug(o, page, "library path is not absolute", 0);
    return -1;
  }
  return 0;
}

/*
 * Opens library `index` of note n by the path the note names (library_path): opened as a file a
 * note may name, beneath the process's root when the caller gave one (o->in_root: the daemon,
 * for a program in a container). -1 (having said why unless `quiet`) when it is not one.
 */
static int open_library(const struct epf_note *n, uint32_t index, struct epf_object *obj, char *page, struct stat *st, const struct epf_options *o, int quiet) {
  if (library_path(n, index, obj, page, o, quiet) != 0) return -1;
  int fd = o->in_root ? epf_open_regular_in(o->root_fd, page, st) : epf_open_regular(page, st, 1);
  if (fd < 0 && !quiet) epf_debug(o, page, o->in_root ? "cannot open the library in the process's root" : "cannot open the library", 0);
  return fd;
}

/* A library's first request, before any library is checked (step 8); silent: its check says
 * what is wrong with it. The path is opened again for the check unless the caller keeps the
 * descriptor (o->held: into *held_fd and *held_st). */
static void early_request(const struct epf_note *n, uint32_t index, const char *via, const struct epf_options *o, struct epf_seen *seen, struct early *e, int *held_fd, struct stat *held_st) {
  struct epf_object obj;
  struct epf_page pg;
  char *path = (char *)epf_page_get(&pg);
  if (!path) return;
  struct stat st;
  int fd = open_library(n, index, &obj, path, &st, o, 1);
  if (fd >= 0) {
    if (!epf_seen_has(seen, st.st_dev, st.st_ino)) {
      struct tally t;
      memset(&t, 0, sizeof t);
      prefetch_requests(path, via, fd, &st, 0, n, index, o, 0, 1, &t);
      e->done = t.issued || t.cached; /* not when the daemon's budget refused it */
      e->issued = t.issued > 0;
      e->bytes = (uint32_t)(t.issued ? t.issued_bytes : t.cached_bytes) & ((1u << 21) - 1);
      e->fadvise = t.fadvise != 0;
      e->look = (uint32_t)(t.look + 1) & 3;
      e->quick = t.quick > 0;
      if (held_fd) {
        *held_fd = fd;
        *held_st = st;
        fd = -1;
      }
    }
    if (fd >= 0) close(fd);
  }
  epf_page_put(&pg);
}

/* Object `index` (a library) of note n: open its path, check its build, prefetch its set; `e`
 * is what early_request did for it (NULL: nothing), `held` its descriptor if it kept one (else
 * -1; closed here). */
static int prefetch_library(const struct epf_note *n, uint32_t index, const char *via, const struct epf_options *o, struct epf_seen *seen, const struct early *e, int held, const struct stat *held_st) {
  struct epf_object obj;
  struct epf_page pg;
  char *path = (char *)epf_page_get(&pg);
  if (!path) {
    if (held >= 0) close(held);
    return 0;
  }
  int done = 0;
  struct epf_file f = {.have_st = 1};
  if (held >= 0) {
    f.fd = held;
    f.st = *held_st;
    if (library_path(n, index, &obj, path, o, 0) != 0) { /* cannot be: it was opened by this path */
      close(held);
      f.fd = -1;
    }
  } else {
    f.fd = open_library(n, index, &obj, path, &f.st, o, 0);
  }
  if (f.fd >= 0) {
    if (epf_seen_has(seen, f.st.st_dev, f.st.st_ino)) epf_debug(o, path, "prefetched already", 0);
    else done = check_library(n, index, &obj, path, &f, via, o, seen, e);
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

/* The rule of issue() (request_cached), every request looked at. */
static void check_resident(void *ctx, uint64_t off, uint64_t len) {
  struct whole *w = ctx;
  int look = 1;
  if (!w->missing && !request_cached(&w->c, &look, off, len)) w->missing = 1;
}

/* Whether every request planned for object 0's set is in the page cache already. */
/* Not inlined: its plan would sit on the stack of every prefetch (spec/shim-stack). */
__attribute__((noinline)) static int set_resident(int fd, const struct stat *st, const struct epf_own *own, const struct epf_note *n, const struct epf_options *o) {
  struct whole w = {{fd, (uint64_t)st->st_size, 0, own}, 0};
  struct epf_plan plan;
  struct epf_devpick dp = epf_device_for(o, fd, st);
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, dp.dev, dp.cap, check_resident, &w);
  int ok = epf_note_runs(n, 0, o->set, o->set_len, epf_plan_run, &plan) == EPF_OK;
  if (ok) epf_plan_finish(&plan);
  epf_resident_release(&w.c);
  return ok && plan.requests > 0 && !w.missing;
}

int epf_prefetch_note(const char *label, const char *via, int fd, const struct stat *st, const struct epf_own *read, const struct epf_note *n, const struct epf_options *o, struct epf_seen *seen) {
  int count = 0;
  if (o->skip_resident && set_resident(fd, st, read, n, o)) {
    epf_debug(o, label, "resident already", 0);
    return 0;
  }
  /* In the order a start needs them (step 8): the program's first request (its headers), every
   * library's first request, the rest of the program's set, then each library, checked. */
  int own = !epf_seen_has(seen, st->st_dev, st->st_ino);
  struct tally t;
  memset(&t, 0, sizeof t);
  if (own) prefetch_requests(label, via, fd, st, read, n, 0, o, 0, 1, &t);
  /* Its first request (the headers) cached already: a warm start, most likely, libraries and all.
   * The daemon answers a permission event now, so a warm exec does not wait for the libraries. */
  if (own && t.cached && !t.issued && o->queued) o->queued(o->queued_ctx);
  struct early early[EPF_EARLY_LIBRARIES];
  memset(early, 0, sizeof early);
  uint32_t libs = n->object_count > 1 ? n->object_count - 1 : 0, ahead = libs < EPF_EARLY_LIBRARIES ? libs : EPF_EARLY_LIBRARIES;
  /* Counted as if every one failed its check, so the per-process bound on waste holds. */
  uint64_t waste = __atomic_load_n(&unchecked_wasted, __ATOMIC_RELAXED);
  struct epf_held *h = o->held;
  if (h)
    for (uint32_t i = 0; i < ahead; i++) h->fd[i] = -1;
  for (uint32_t i = 0; i < ahead && waste < EPF_UNCHECKED_BUDGET; i++) {
    early_request(n, i + 1, via, o, seen, &early[i], h ? &h->fd[i] : 0, h ? &h->st[i] : 0);
    if (early[i].done && early[i].issued) waste += early[i].bytes;
  }
  /* The rest of the set; this call writes the diagnostic line ("no page set named ..." too). */
  if (!own) {
    epf_debug(o, label, "prefetched already", 0);
  } else if (prefetch_requests(label, via, fd, st, read, n, 0, o, 1, 0, &t)) {
    epf_seen_add(seen, st);
    count++;
  }
  if (o->queued) o->queued(o->queued_ctx);
  for (uint32_t i = 1; i < n->object_count; i++) {
    int early_one = i - 1 < ahead, held = h && early_one ? h->fd[i - 1] : -1;
    count += prefetch_library(n, i, via, o, seen, early_one ? &early[i - 1] : 0, held, held >= 0 ? &h->st[i - 1] : 0);
  }
  return count;
}
