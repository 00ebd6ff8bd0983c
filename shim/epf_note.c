/* The elfprefetch note parser: docs/FORMAT.md section 3, checked in the order it gives. */
#include "epf_note.h"

/* The fixed parts end where the variable ones start. */
typedef char epf_fixed_sizes[EPF_O_BUILD_ID == EPF_OBJECT_FIXED_SIZE && EPF_P_NAME == EPF_PAGES_FIXED_SIZE ? 1 : -1];

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static uint32_t align4(uint32_t v) { return (v + 3u) & ~3u; }

/* CRC-32 (ISO-HDLC) state update; the state starts at and is finished with ~0. */
static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c;
}

uint32_t epf_crc32(const uint8_t *p, size_t n) { return ~crc_update(0xffffffffu, p, n); }

uint64_t epf_fnv1a64(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* One record, bounds-checked against the used size. */
struct rec {
  uint32_t kind, object, size;
  const uint8_t *body;
};

static int next_record(const struct epf_note *n, uint32_t *at, struct rec *r) {
  if (n->used - *at < EPF_RECORD_HEADER_SIZE) return EPF_E_BOUNDS;
  const uint8_t *h = n->d + *at;
  r->kind = le16(h + EPF_R_KIND);
  r->object = le16(h + EPF_R_OBJECT);
  r->size = le32(h + EPF_R_SIZE);
  uint32_t body = *at + EPF_RECORD_HEADER_SIZE;
  if (r->size > n->used - body || align4(r->size) > n->used - body) return EPF_E_BOUNDS;
  r->body = n->d + body;
  *at = body + align4(r->size);
  return EPF_OK;
}

/* Checks a PAGES record and, when fn is given, walks its runs. */
static int walk_pages(const struct rec *r, epf_run_fn fn, void *ctx) {
  if (r->size < EPF_PAGES_FIXED_SIZE) return EPF_E_RECORD;
  uint32_t enc = r->body[EPF_P_ENCODING], name_len = r->body[EPF_P_NAME_LEN], page_count = le32(r->body + EPF_P_PAGE_COUNT), selected = le32(r->body + EPF_P_SELECTED);
  if (name_len < 1 || name_len > EPF_MAX_SET_NAME || page_count > EPF_MAX_PAGE_COUNT) return EPF_E_RECORD;
  uint32_t data_at = EPF_P_NAME + align4(name_len);
  if (data_at > r->size) return EPF_E_RECORD;
  const uint8_t *data = r->body + data_at;
  uint32_t data_len = r->size - data_at, total = 0;
  if (enc == EPF_ENC_BITMAP) {
    if (data_len != (page_count + 7) / 8) return EPF_E_RECORD;
    uint32_t start = 0;
    int in = 0;
    for (uint32_t p = 0; p <= page_count; p++) {
      /* A whole byte that does not change the state is passed in one step (most of a bitmap is
       * zero bytes, and every start walks it, warm or not). */
      while ((p & 7) == 0 && p + 8 <= page_count && data[p >> 3] == (in ? 0xff : 0)) p += 8;
      int set = p < page_count && ((data[p >> 3] >> (p & 7)) & 1);
      if (set && !in) start = p, in = 1;
      if (!set && in) {
        in = 0;
        total += p - start;
        if (fn && fn(ctx, start, p - start)) return EPF_OK;
      }
    }
  } else if (enc == EPF_ENC_RUNS) {
    if (data_len < EPF_RUNS_FIRST) return EPF_E_RECORD;
    uint32_t count = le32(data + EPF_RUNS_COUNT);
    if (count > (data_len - EPF_RUNS_FIRST) / EPF_RUN_SIZE || EPF_RUNS_FIRST + EPF_RUN_SIZE * count != data_len) return EPF_E_RECORD;
    uint64_t end = 0;
    int first_run = 1;
    for (uint32_t i = 0; i < count; i++) {
      const uint8_t *run = data + EPF_RUNS_FIRST + EPF_RUN_SIZE * i;
      uint32_t f = le32(run), c = le32(run + EPF_RUN_COUNT);
      if (c == 0 || (!first_run && f <= end) || f > page_count || c > page_count - f) return EPF_E_RECORD;
      first_run = 0;
      end = (uint64_t)f + c;
      total += c;
      if (fn && fn(ctx, f, c)) return EPF_OK;
    }
  } else {
    return EPF_E_RECORD;
  }
  if (!fn && total != selected) return EPF_E_RECORD;
  return EPF_OK;
}

int epf_note_open(struct epf_note *n, const uint8_t *d, size_t len) {
  if (len < EPF_HEADER_SIZE || len > EPF_MAX_DESC_SIZE) return EPF_E_SIZE;
  if (le16(d + EPF_H_VERSION) != EPF_FORMAT_VERSION) return EPF_E_VERSION;
  uint32_t header_size = le16(d + EPF_H_HEADER_SIZE), used = le32(d + EPF_H_USED_SIZE);
  if (header_size < EPF_HEADER_SIZE || header_size % 4) return EPF_E_FIELD;
  if (used < header_size || used > len || used % 4) return EPF_E_SIZE;
  /* The checksum covers [0, used) with its own field read as zero, without copying. */
  static const uint8_t zero[4];
  uint32_t c = crc_update(0xffffffffu, d, EPF_H_CRC32);
  c = crc_update(c, zero, 4);
  c = crc_update(c, d + EPF_H_CRC32 + 4, used - (EPF_H_CRC32 + 4));
  if (~c != le32(d + EPF_H_CRC32)) return EPF_E_CHECKSUM;
  n->d = d;
  n->used = used;
  n->header_size = header_size;
  n->page_shift = d[EPF_H_PAGE_SHIFT];
  n->empty = d[EPF_H_FLAGS] & EPF_FLAG_EMPTY;
  n->record_count = le16(d + EPF_H_RECORD_COUNT);
  n->object_count = le32(d + EPF_H_OBJECT_COUNT);
  if (n->page_shift < EPF_MIN_PAGE_SHIFT || n->page_shift > EPF_MAX_PAGE_SHIFT) return EPF_E_FIELD;
  if (n->record_count > EPF_MAX_RECORDS || n->object_count > EPF_MAX_OBJECTS) return EPF_E_FIELD;
  if (n->empty && (n->record_count || n->object_count)) return EPF_E_FIELD;
  uint32_t at = header_size, objects = 0;
  for (uint32_t i = 0; i < n->record_count; i++) {
    struct rec r;
    int e = next_record(n, &at, &r);
    if (e) return e;
    if (r.kind == EPF_REC_OBJECT) {
      if (r.object != objects || r.object >= n->object_count || r.size < EPF_OBJECT_FIXED_SIZE) return EPF_E_RECORD;
      uint32_t id_len = r.body[EPF_O_BUILD_ID_LEN], path_len = le16(r.body + EPF_O_PATH_LEN);
      if (id_len > EPF_MAX_BUILD_ID || path_len > EPF_MAX_PATH || EPF_OBJECT_FIXED_SIZE + id_len + path_len != r.size) return EPF_E_RECORD;
      if ((r.object == 0) != (path_len == 0)) return EPF_E_RECORD;
      objects++;
    } else if (r.kind == EPF_REC_PAGES) {
      if (r.object >= objects) return EPF_E_RECORD;
      e = walk_pages(&r, 0, 0);
      if (e) return e;
    }
  }
  if (objects != n->object_count || (!n->empty && objects == 0)) return EPF_E_RECORD;
  return EPF_OK;
}

int epf_note_object(const struct epf_note *n, uint32_t index, struct epf_object *o) {
  uint32_t at = n->header_size;
  for (uint32_t i = 0; i < n->record_count; i++) {
    struct rec r;
    if (next_record(n, &at, &r)) return EPF_E_BOUNDS;
    if (r.kind != EPF_REC_OBJECT || r.object != index) continue;
    o->index = index;
    o->layout_digest = le64(r.body + EPF_O_LAYOUT_DIGEST);
    o->content_sha256 = r.body + EPF_O_CONTENT_SHA256;
    o->build_id_len = r.body[EPF_O_BUILD_ID_LEN];
    o->path_len = le16(r.body + EPF_O_PATH_LEN);
    o->build_id = r.body + EPF_O_BUILD_ID;
    o->path = (const char *)r.body + EPF_O_BUILD_ID + o->build_id_len;
    return EPF_OK;
  }
  return EPF_E_NOTFOUND;
}

int epf_note_runs(const struct epf_note *n, uint32_t object, const char *set, size_t set_len, epf_run_fn fn, void *ctx) {
  uint32_t at = n->header_size;
  for (uint32_t i = 0; i < n->record_count; i++) {
    struct rec r;
    if (next_record(n, &at, &r)) return EPF_E_BOUNDS;
    if (r.kind != EPF_REC_PAGES || r.object != object || r.size < EPF_PAGES_FIXED_SIZE || r.body[EPF_P_NAME_LEN] != set_len) continue;
    size_t k = 0;
    while (k < set_len && r.body[EPF_P_NAME + k] == (uint8_t)set[k]) k++;
    if (k != set_len) continue;
    return walk_pages(&r, fn, ctx);
  }
  return EPF_E_NOTFOUND;
}
