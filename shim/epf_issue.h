/*
 * Issuing a note's requests: object 0's page set from the file itself, then each library's
 * (checked against the library file's identity), planned by the coalescer, requests whose pages
 * are cached already left out, the rest handed to readahead(2).
 */
#ifndef EPF_ISSUE_H
#define EPF_ISSUE_H

#include <sys/stat.h>

#include "epf_note.h"
#include "epf_prefetch.h"

/* A note that belongs to the file (its own, or its sidecar's: `via`): object 0 from fd, then the
 * library sets. `read`: what the shim read of fd itself (epf_file.h), or NULL. Returns the number
 * of files prefetched. */
struct epf_own;
int epf_prefetch_note(const char *label, const char *via, int fd, const struct stat *st, const struct epf_own *read, const struct epf_note *n, const struct epf_options *o, struct epf_seen *seen);

#endif
