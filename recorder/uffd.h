/*
 * userfaultfd: a mapping registered in write-protect mode with UFFD_FEATURE_WP_ASYNC (Linux 6.7)
 * never faults around (mm/memory.c, should_fault_around), and nothing else changes for it: no
 * write protection is armed, no event is ever delivered. All raw system calls.
 */
#ifndef RECORDER_UFFD_H
#define RECORDER_UFFD_H

#include <stdint.h>

#include "maps.h"

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)

/* A new userfaultfd with WP_ASYNC on a high descriptor, or -1. */
int uffd_open(void);
/* 0 registered, 1 already registered by another userfaultfd (the audit role), -1 failed. */
int uffd_register(int fd, uint64_t start, uint64_t end);
/*
 * Unmaps the present pages of a private mapping that are still the file's own (never written:
 * pagemap bit 61); they fault back in, one page at a time, when touched again. Private copies
 * (written pages, like the zeroed tail of a data segment) stay. Used only where no other thread
 * can be writing to the mapping: an object ld.so has just mapped and not yet relocated, or a
 * fork child before it returns from fork. pm: /proc/self/pagemap.
 */
void zap_file_pages(int pm, const struct mapping *m, uint64_t page_size);

#endif
