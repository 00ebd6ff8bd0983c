/*
 * libFuzzer target 1: the descriptor parser (shim/epf_note.c) and the read planner.
 *
 * The input is one note descriptor. It is copied into a malloc'd buffer of exactly its size, so
 * AddressSanitizer reports any read outside it. epf_note_open is called on it; when it accepts,
 * every accessor is called (every object, indices past the end, every page set by name, early
 * stops of the run walk), and the runs of every set are planned (epf_plan_*) for several file
 * sizes and every device class. Oracles (abort() with a message when one fails):
 *   - the accepted note's fields are within the descriptor, object pointers inside [d, d+used);
 *   - objects 0..object_count-1 are found, others are not;
 *   - the runs of a set are non-empty, sorted, apart, inside page_count, add up to `selected`;
 *   - every planned request has 0 < length <= 1 MiB, lies inside [0, file size), requests are in
 *     order and disjoint, each starts at a run start and ends at a (clipped) run end, every page
 *     of every run inside the file is covered, and the byte count adds up.
 * EPF_FUZZ_PLANT builds a planted out-of-bounds read (for the test that the CI run can fail).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../epf_note.h"
#include "../epf_prefetch.h"

/* Oracle failures go to a copy of the original stderr, which -close_fd_mask=2 does not close. */
static int report_fd = 2;

#define CHECK(c, ...)                                                   \
  do {                                                                  \
    if (!(c)) {                                                         \
      dprintf(report_fd, "%s: oracle failed: %s: ", "fuzz_note", #c);        \
      dprintf(report_fd, __VA_ARGS__);                                  \
      dprintf(report_fd, "\n");                                        \
      abort();                                                          \
    }                                                                   \
  } while (0)

static unsigned long opened, accepted, plans; /* over the run, printed at exit */

static void stats(void) { dprintf(report_fd, "fuzz_note: stats: %lu descriptors, %lu accepted, %lu plans checked\n", opened, accepted, plans); }

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

/* ------------------------------------------------------------------ runs of one set */

#define MAX_RUNS 70000 /* a bitmap of 2^28 pages can hold more; the walk stops collecting there */

struct runs {
  uint32_t n;
  int truncated;
  uint64_t last_end; /* first + count of the previous run */
  uint64_t total;
  uint32_t page_count;
  uint32_t stop_after; /* return non-zero after this many runs (0: never) */
  uint32_t first[MAX_RUNS], count[MAX_RUNS]; /* last: the fields before are reset per walk */
};

static int collect(void *ctx, uint32_t first, uint32_t count) {
  struct runs *r = ctx;
  CHECK(count >= 1, "empty run at %u", first);
  CHECK((uint64_t)first + count <= r->page_count, "run %u+%u past page_count %u", first, count, r->page_count);
  CHECK(r->n == 0 || r->last_end < first, "run %u+%u not after the previous run (ending at %llu) with a gap", first, count,
        (unsigned long long)r->last_end);
  r->last_end = (uint64_t)first + count;
  if (r->n < MAX_RUNS) {
    r->first[r->n] = first;
    r->count[r->n] = count;
  } else {
    r->truncated = 1;
  }
  r->n++;
  r->total += count;
  return r->stop_after && r->n >= r->stop_after;
}

/* ------------------------------------------------------------------ planning */

struct plan_check {
  uint64_t file_size;
  uint64_t last_end;
  uint32_t requests;
  uint64_t bytes;
  uint64_t off[64], len[64]; /* the first requests, for the coverage check */
  uint32_t cap;
};

static void on_request(void *ctx, uint64_t off, uint64_t len) {
  struct plan_check *c = ctx;
  CHECK(len > 0 && len <= c->cap, "request %llu+%llu", (unsigned long long)off, (unsigned long long)len);
  CHECK(off < c->file_size && len <= c->file_size - off, "request %llu+%llu outside the file of %llu bytes", (unsigned long long)off,
        (unsigned long long)len, (unsigned long long)c->file_size);
  CHECK(c->requests == 0 || off >= c->last_end, "request %llu+%llu before the end of the previous one (%llu)", (unsigned long long)off,
        (unsigned long long)len, (unsigned long long)c->last_end);
  if (c->requests < 64) {
    c->off[c->requests] = off;
    c->len[c->requests] = len;
  }
  c->last_end = off + len;
  c->requests++;
  c->bytes += len;
}

static const char *const device_names[] = {"hdd", "ssd", "nvme", "net"};

static void check_plan(const struct runs *r, uint32_t page_shift, uint64_t file_size, const struct epf_device *dev, uint32_t cap_in) {
  struct plan_check c;
  uint32_t cap = epf_plan_cap(cap_in);
  memset(&c, 0, sizeof c);
  c.file_size = file_size;
  c.cap = cap;
  plans++;
  struct epf_plan p;
  epf_plan_init(&p, file_size, page_shift, dev, cap, on_request, &c);
  uint32_t fed = r->n < MAX_RUNS ? r->n : MAX_RUNS;
  uint64_t want_bytes = 0;
  int stopped = 0;
  for (uint32_t i = 0; i < fed && !stopped; i++) {
    uint64_t a = (uint64_t)r->first[i] << page_shift, b = ((uint64_t)r->first[i] + r->count[i]) << page_shift;
    if (a < file_size) want_bytes += (b < file_size ? b : file_size) - a;
    stopped = epf_plan_run(&p, r->first[i], r->count[i]);
    CHECK(!stopped || b >= file_size, "the plan stopped at run %u+%u inside the file", r->first[i], r->count[i]);
  }
  epf_plan_finish(&p);
  CHECK(p.requests == c.requests && p.bytes == c.bytes, "the plan's counters disagree with its requests");
  CHECK(c.bytes >= want_bytes, "%llu bytes requested, the runs inside the file hold %llu", (unsigned long long)c.bytes,
        (unsigned long long)want_bytes);
  if (c.requests > 64 || fed > 512) return;
  /* Every page of every run inside the file is covered; every request starts at a run start or
   * a step of the cap inside a run and ends at a run end, a step, or the end of the file. */
  for (uint32_t i = 0; i < fed; i++) {
    uint64_t a = (uint64_t)r->first[i] << page_shift, b = ((uint64_t)r->first[i] + r->count[i]) << page_shift;
    if (a >= file_size) break;
    if (b > file_size) b = file_size;
    for (uint64_t at = a; at < b;) {
      uint32_t k = 0;
      while (k < c.requests && !(c.off[k] <= at && at < c.off[k] + c.len[k])) k++;
      CHECK(k < c.requests, "byte %llu of run %u+%u not requested", (unsigned long long)at, r->first[i], r->count[i]);
      at = c.off[k] + c.len[k];
    }
  }
  for (uint32_t k = 0; k < c.requests; k++) {
    int starts = 0, ends = 0;
    for (uint32_t i = 0; i < fed; i++) {
      uint64_t a = (uint64_t)r->first[i] << page_shift, b = ((uint64_t)r->first[i] + r->count[i]) << page_shift;
      if (b > file_size) b = file_size;
      if (c.off[k] >= a && c.off[k] < b && (c.off[k] - a) % cap == 0) starts = 1;
      uint64_t e = c.off[k] + c.len[k];
      if (e > a && e <= b && (e == b || (e - a) % cap == 0)) ends = 1;
    }
    CHECK(starts && ends, "request %llu+%llu does not start and end on runs", (unsigned long long)c.off[k], (unsigned long long)c.len[k]);
  }
}

/* ------------------------------------------------------------------ the target */

static struct runs R;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  report_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (report_fd < 0) report_fd = 2;
  atexit(stats);
  return 0;
}

static void one(uint8_t *d, size_t size);

/*
 * Each input runs as it is and, when its used size is plausible, once more with the checksum
 * recomputed, so that mutations reach the checks behind the CRC.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *d = malloc(size ? size : 1);
  if (!d) return 0;
  memcpy(d, data, size);
  one(d, size);
  if (size >= EPF_HEADER_SIZE && size <= EPF_MAX_DESC_SIZE) {
    uint32_t used = rd32(data + 4);
    if (used >= 12 && used <= size) {
      d = malloc(size);
      if (!d) return 0;
      memcpy(d, data, size);
      d[8] = d[9] = d[10] = d[11] = 0;
      uint32_t c = epf_crc32(d, used);
      if (c == rd32(data + 8)) {
        free(d); /* the same input as before */
        return 0;
      }
      d[8] = (uint8_t)c, d[9] = (uint8_t)(c >> 8), d[10] = (uint8_t)(c >> 16), d[11] = (uint8_t)(c >> 24);
      one(d, size);
    }
  }
  return 0;
}

/* Checks one descriptor (a malloc'd block of exactly `size` bytes) and frees it. */
static void one(uint8_t *d, size_t size) {
#ifdef EPF_FUZZ_PLANT
  /* A planted bug: a read one byte past the end for inputs starting with "PLANT". */
  if (size >= 5 && memcmp(d, "PLANT", 5) == 0) {
    volatile uint8_t x = d[size];
    (void)x;
  }
#endif
  struct epf_note n, n2;
  int e = epf_note_open(&n, d, size);
  int e2 = epf_note_open(&n2, d, size);
  opened++;
  CHECK(e == e2, "two opens of the same bytes disagree (%d, %d)", e, e2);
  if (e != EPF_OK) {
    CHECK(e == EPF_E_SIZE || e == EPF_E_VERSION || e == EPF_E_CHECKSUM || e == EPF_E_FIELD || e == EPF_E_RECORD || e == EPF_E_BOUNDS,
          "unknown error %d", e);
    free(d);
    return;
  }
  accepted++;
  CHECK(n.d == d && n.used <= size && n.header_size >= EPF_HEADER_SIZE && n.header_size <= n.used && n.used % 4 == 0, "header fields");
  CHECK(n.page_shift >= EPF_MIN_PAGE_SHIFT && n.page_shift <= EPF_MAX_PAGE_SHIFT, "page_shift %u", n.page_shift);
  CHECK(n.record_count <= EPF_MAX_RECORDS && n.object_count <= EPF_MAX_OBJECTS, "counts");
  CHECK(n.empty ? n.object_count == 0 : n.object_count >= 1, "empty %d with %u objects", n.empty, n.object_count);

  /* Objects: all declared ones are found, within the used bytes; none past them. */
  for (uint32_t i = 0; i < n.object_count + 2; i++) {
    struct epf_object o;
    int r = epf_note_object(&n, i, &o);
    if (i >= n.object_count) {
      CHECK(r == EPF_E_NOTFOUND, "object %u of %u: %d", i, n.object_count, r);
      continue;
    }
    CHECK(r == EPF_OK, "object %u of %u not found (%d)", i, n.object_count, r);
    CHECK(o.index == i && o.build_id_len <= EPF_MAX_BUILD_ID && o.path_len <= EPF_MAX_PATH, "object %u fields", i);
    CHECK((i == 0) == (o.path_len == 0), "object %u path_len %u", i, o.path_len);
    const uint8_t *end = d + n.used;
    CHECK(o.content_sha256 >= d && o.content_sha256 + 32 <= end, "object %u sha256 outside", i);
    CHECK(o.build_id >= d && o.build_id + o.build_id_len <= end, "object %u build-id outside", i);
    CHECK((const uint8_t *)o.path >= d && (const uint8_t *)o.path + o.path_len <= end, "object %u path outside", i);
    /* Touch every byte, so ASan sees a pointer that is wrong in spite of the checks above. */
    volatile uint32_t sum = 0;
    for (uint32_t k = 0; k < o.build_id_len; k++) sum += o.build_id[k];
    for (uint32_t k = 0; k < o.path_len; k++) sum += (uint8_t)o.path[k];
    for (uint32_t k = 0; k < 32; k++) sum += o.content_sha256[k];
    (void)sum;
  }
  CHECK(epf_note_object(&n, 0xffffffffu, &(struct epf_object){0}) == EPF_E_NOTFOUND, "object 2^32-1");

  /* Page sets: walk the records here (bounds-checked) for the names, then ask the parser. */
  uint32_t at = n.header_size, sets = 0, seen_obj[64], seen_len[64];
  const char *seen_name[64];
  for (uint32_t i = 0; i < n.record_count; i++) {
    CHECK(n.used - at >= 8, "record %u header past used", i);
    uint32_t kind = rd16(d + at), object = rd16(d + at + 2), rsize = rd32(d + at + 4);
    uint32_t body = at + 8;
    CHECK(rsize <= n.used - body && ((rsize + 3) & ~3u) <= n.used - body, "record %u body past used", i);
    at = body + ((rsize + 3) & ~3u);
    if (kind != EPF_REC_PAGES) continue;
    uint32_t name_len = d[body + 1];
    const char *name = (const char *)d + body + EPF_PAGES_FIXED_SIZE;
    uint32_t selected = rd32(d + body + 8);
    /* The first set of that object and name is the one the parser finds: then its page count and
     * total are this record's (after 64 sets, only the bounds of the format are checked). */
    int first_of_name = sets < 64;
    for (uint32_t k = 0; k < sets && k < 64; k++)
      if (seen_obj[k] == object && seen_len[k] == name_len && memcmp(seen_name[k], name, name_len) == 0) first_of_name = 0;
    if (sets < 64) {
      seen_obj[sets] = object;
      seen_len[sets] = name_len;
      seen_name[sets] = name;
    }
    sets++;
    memset(&R, 0, offsetof(struct runs, first));
    R.page_count = first_of_name ? rd32(d + body + 4) : EPF_MAX_PAGE_COUNT;
    int w = epf_note_runs(&n, object, name, name_len, collect, &R);
    CHECK(w == EPF_OK, "set %u of object %u not walked (%d)", i, object, w);
    if (first_of_name) CHECK(R.total == selected, "set %u of object %u: %llu pages walked, selected says %u", i, object, (unsigned long long)R.total, selected);
    if (R.n > 0 && !R.truncated && sets <= 8) {
      for (uint32_t k = 0; k < 4; k++) {
        const struct epf_device *dev = epf_device_by_name(device_names[k]);
        uint64_t sizes[] = {0,
                            1,
                            (uint64_t)R.first[0] << n.page_shift,
                            ((uint64_t)R.first[R.n - 1] + R.count[R.n - 1]) << n.page_shift,
                            (((uint64_t)R.first[R.n / 2] << n.page_shift) + 1),
                            (uint64_t)rd32(d + 8) * 4099,
                            UINT64_MAX};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
          if (sizes[s] > 0) check_plan(&R, n.page_shift, sizes[s], dev, s & 1 ? 0 : (uint32_t)(s + 1) * 100000u); /* no cap, or 300, 500 or 700 KB (rounded down to pages) */
      }
      /* An early stop after the first run. */
      uint32_t all = R.n;
      memset(&R, 0, offsetof(struct runs, first));
      R.page_count = EPF_MAX_PAGE_COUNT;
      R.stop_after = 1;
      CHECK(epf_note_runs(&n, object, name, name_len, collect, &R) == EPF_OK && R.n == 1, "early stop (%u of %u runs)", R.n, all);
    }
  }
  /* Names that are not there, and object numbers past the last. */
  static const char long_name[65] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  memset(&R, 0, offsetof(struct runs, first));
  R.page_count = EPF_MAX_PAGE_COUNT;
  (void)epf_note_runs(&n, 0, "default", 7, collect, &R);
  memset(&R, 0, offsetof(struct runs, first));
  R.page_count = EPF_MAX_PAGE_COUNT;
  (void)epf_note_runs(&n, 0, long_name, 64, collect, &R);
  CHECK(epf_note_runs(&n, n.object_count + 1, "default", 7, collect, &R) == EPF_E_NOTFOUND, "a set of a missing object");
  free(d);
}
