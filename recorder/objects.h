/*
 * The ELF objects of the base link-map namespace (the program, its libraries, dlopen'd ones and
 * ld.so; not the LD_AUDIT copy of the recorder and its libc), as address ranges, without taking
 * any of ld.so's locks: dl_iterate_phdr would take one, and a thread that holds it (inside
 * dlopen, dl_iterate_phdr or an unwinder) or a fork child that inherited it held would block us
 * for good. Instead the link map (_r_debug.r_map) is read with process_vm_readv on ourselves,
 * which fails rather than faults on a node a concurrent dlclose just freed, and each object is
 * the maps run (maps.h) that holds its dynamic section (l_ld).
 */
#ifndef RECORDER_OBJECTS_H
#define RECORDER_OBJECTS_H

#include <stdint.h>

#include "buf.h"

/* Once, in a normal context: whether process_vm_readv works here (else the link map is read directly). */
void objects_init(void);
/* Appends [lo, hi) pairs (uint64_t) of the objects to r, leaving out the run of `self`. -1 on failure. */
int object_ranges(const char *maps, uint64_t self, struct buf *r);
/* The first part of [max(lo, from), hi) inside one of the ranges, as [*a, *b); 0 if none. */
int object_overlap(const struct buf *r, uint64_t lo, uint64_t hi, uint64_t *a, uint64_t *b, uint64_t from);

#endif
