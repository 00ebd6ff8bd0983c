#include <link.h>
#include <string.h>

#include "maps.h"
#include "objects.h"
#include "sys.h"

static int copy_works;

void objects_init(void) {
  uint64_t probe = 1, got = 0;
  copy_works = r_copy(&got, &probe, sizeof got) == (long)sizeof got && got == 1;
}

/*
 * The public head of a link_map node: l_addr, l_name, l_ld, l_next (and l_prev). -1 when the
 * node is gone (EFAULT); if process_vm_readv stopped working (a seccomp filter the program set
 * up since), a plain read, as dl_iterate_phdr would do, without the lock.
 */
static int read_node(const struct link_map *l, struct link_map *out) {
  long rc = copy_works ? r_copy(out, l, sizeof *out) : -ENOSYS;
  if (rc == (long)sizeof *out) return 0;
  if (rc == -EFAULT || rc >= 0) return -1;
  memcpy(out, l, sizeof *out);
  return 0;
}

/* The dynamic section address of every object in the base namespace's link map (up to a node gone bad). */
static int dynamic_sections(struct buf *out) {
  struct link_map node;
  const struct link_map *l = _r_debug.r_map;
  for (int n = 0; l && n < 65536; n++, l = node.l_next) {
    if (read_node(l, &node)) break;
    uint64_t ld = (uint64_t)(uintptr_t)node.l_ld;
    if (ld && buf_add(out, &ld, sizeof ld)) return -1;
  }
  return 0;
}

int object_ranges(const char *maps, uint64_t self, struct buf *r) {
  struct buf lds = {0};
  int rc = dynamic_sections(&lds);
  const uint64_t *ld = (const uint64_t *)lds.p;
  size_t n = lds.len / sizeof *ld;
  const char *cur = maps;
  struct run run;
  while (rc == 0 && next_run(&cur, &run)) {
    if (run.lo <= self && self < run.hi) continue;
    for (size_t i = 0; i < n; i++) {
      if (run.lo <= ld[i] && ld[i] < run.hi) {
        uint64_t pair[2] = {run.lo, run.hi};
        if (buf_add(r, pair, sizeof pair)) rc = -1;
        break;
      }
    }
  }
  buf_free(&lds);
  return rc;
}

int object_overlap(const struct buf *r, uint64_t lo, uint64_t hi, uint64_t *a, uint64_t *b, uint64_t from) {
  const uint64_t *p = (const uint64_t *)r->p;
  size_t n = r->len / 16;
  uint64_t best_a = UINT64_MAX, best_b = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t s = p[2 * i] > lo ? p[2 * i] : lo, e = p[2 * i + 1] < hi ? p[2 * i + 1] : hi;
    if (s < from) s = from;
    if (s < e && s < best_a) best_a = s, best_b = e;
  }
  if (best_a == UINT64_MAX) return 0;
  *a = best_a;
  *b = best_b;
  return 1;
}
