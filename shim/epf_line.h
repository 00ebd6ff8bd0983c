/*
 * One diagnostic line (ELFPREFETCH_DEBUG=1), built without stdio: the shim runs inside other
 * programs, whose stdio buffers and locks are not its to touch. Written to fd 2 in one write.
 */
#ifndef EPF_LINE_H
#define EPF_LINE_H

#include <stddef.h>
#include <stdint.h>

struct epf_line {
  char b[640];
  size_t n;
};

/* Appends (truncating what does not fit, leaving room for the newline). */
void epf_put(struct epf_line *l, const char *s);
void epf_put_u64(struct epf_line *l, uint64_t v);
/* Ends the line and writes it to stderr. */
void epf_line_emit(struct epf_line *l);

#endif
