/*
 * Residency: whether a page of a file is in the page cache already, so a warm start issues no
 * request for it (docs/SHIM.md, "Pages that are cached already").
 */
#ifndef EPF_RESIDENT_H
#define EPF_RESIDENT_H

#include <stdint.h>

struct epf_own;

/* One set's residency checks: the file, and the mapping mincore needs (made on first use). */
struct epf_resident {
  int fd;
  uint64_t size;
  void *map;                  /* MAP_FAILED: could not map, every page counts as not cached */
  const struct epf_own *own;  /* what the shim read of the file itself, or NULL */
};

int epf_page_cached(struct epf_resident *c, uint64_t off);

/*
 * Narrows the byte offsets *first..*last to pages the shim did not read itself (c->own): 1 with
 * the offsets of the first and last such pages (equal for a one-page range, which then needs one
 * check), 0 when the shim read every page of the range, -1 when it read too much to tell
 * (own->overflow: look at nothing as cached).
 */
int epf_resident_narrow(const struct epf_resident *c, uint64_t *first, uint64_t *last);
/* Unmaps what the checks mapped; the struct can be used again. */
void epf_resident_release(struct epf_resident *c);

#endif
