/*
 * Residency: whether a page of a file is in the page cache already, so a warm start issues no
 * request for it (docs/SHIM.md, "Pages that are cached already").
 */
#ifndef EPF_RESIDENT_H
#define EPF_RESIDENT_H

#include <stdint.h>

/* One set's residency checks: the file, and the mapping mincore needs (made on first use). */
struct epf_resident {
  int fd;
  uint64_t size;
  void *map; /* MAP_FAILED: could not map, every page counts as not cached */
};

int epf_page_cached(struct epf_resident *c, uint64_t off);
/* Unmaps what the checks mapped; the struct can be used again. */
void epf_resident_release(struct epf_resident *c);

#endif
