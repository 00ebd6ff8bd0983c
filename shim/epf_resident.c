/* Residency checks (epf_resident.h): cachestat(2), else mincore(2). */
#define _GNU_SOURCE
#include "epf_resident.h"

#include "epf_file.h"

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Whether a page is in the page cache already, so a warm start issues no request for it:
 * cachestat(2) (Linux 6.5; the number is 451 on every architecture's table since 6.5, with the
 * x32 bit on x32, and glibc 2.36's headers do not have it yet), else mincore(2) on a PROT_NONE
 * mapping of the file made at the first such check of a set and unmapped after the set. mincore
 * reports the page cache only for files the caller owns or may write (or as root, CAP_FOWNER;
 * Linux 5.2); otherwise it reports nothing cached and every request is issued, as without the check.
 */
#if defined(EPF_NO_CACHESTAT)
/* built to use mincore only (tests) */
#elif defined(__NR_cachestat)
#define EPF_NR_CACHESTAT __NR_cachestat
#elif defined(__x86_64__) && defined(__ILP32__)
#define EPF_NR_CACHESTAT (0x40000000 + 451)
#elif defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) || defined(__riscv) || defined(__powerpc__) || defined(__s390__) || defined(__loongarch__)
#define EPF_NR_CACHESTAT 451
#endif

#ifdef EPF_NR_CACHESTAT
struct epf_cachestat_range {
  uint64_t off, len;
};
struct epf_cachestat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
/* 0 untried, 1 works, -1 refused (ENOSYS: an older kernel; EPERM: a seccomp filter): use mincore. */
static int cachestat_state;
#endif

static uint64_t page_size(void) {
  uint64_t psize = getauxval(AT_PAGESZ);
  return psize == 0 || (psize & (psize - 1)) ? 4096 : psize;
}

int epf_resident_narrow(const struct epf_resident *c, uint64_t *first, uint64_t *last) {
  const struct epf_own *own = c->own;
  if (own && own->overflow) return -1;
  uint64_t ps = page_size(), a = *first & ~(ps - 1), b = *last & ~(ps - 1);
  /* Past every page an own range touches, from both ends, until neither end is in one. */
  for (int moved = own != 0; moved && a <= b;) {
    moved = 0;
    for (uint32_t i = 0; i < own->n && a <= b; i++) {
      uint64_t lo = ((uint64_t)own->from[i] << 12) & ~(ps - 1), hi = (((uint64_t)own->to[i] << 12) - 1) & ~(ps - 1); /* its first and last pages */
      if (a >= lo && a <= hi) {
        if (hi > UINT64_MAX - ps) return 0;
        a = hi + ps, moved = 1;
      }
      if (b >= lo && b <= hi) {
        if (lo == 0) return 0;
        b = lo - ps, moved = 1;
      }
    }
  }
  if (a > b) return 0;
  *first = a;
  *last = b;
  return 1;
}

int epf_page_cached(struct epf_resident *c, uint64_t off) {
  off &= ~(page_size() - 1);
#ifdef EPF_NR_CACHESTAT
  if (__atomic_load_n(&cachestat_state, __ATOMIC_RELAXED) >= 0) {
    struct epf_cachestat_range r = {off, 1};
    struct epf_cachestat cs;
    if (syscall(EPF_NR_CACHESTAT, c->fd, &r, &cs, 0) == 0) {
      __atomic_store_n(&cachestat_state, 1, __ATOMIC_RELAXED);
      return cs.nr_cache > 0;
    }
    if (errno != ENOSYS && errno != EPERM) return 0;
    __atomic_store_n(&cachestat_state, -1, __ATOMIC_RELAXED);
  }
#endif
  if (!c->map) {
    c->map = MAP_FAILED;
    if (c->size > 0 && c->size <= SIZE_MAX) c->map = mmap(0, (size_t)c->size, PROT_NONE, MAP_SHARED, c->fd, 0);
  }
  unsigned char v = 0;
  return c->map != MAP_FAILED && off < c->size && mincore((uint8_t *)c->map + off, 1, &v) == 0 && (v & 1);
}

void epf_resident_release(struct epf_resident *c) {
  if (c->map && c->map != MAP_FAILED) munmap(c->map, (size_t)c->size);
  c->map = 0;
}
