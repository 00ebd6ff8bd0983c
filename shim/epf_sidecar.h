/*
 * Sidecar files (docs/FORMAT.md section 8): the note of a file that has none of its own, found by
 * its build-id as DIR/hh/rest.note, used only if it is safe to read and belongs to the file.
 */
#ifndef EPF_SIDECAR_H
#define EPF_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

#include "epf_file.h"
#include "epf_inspect.h"
#include "epf_note.h"

/* DIR/hh/rest.note: the directory, '/', 2 hex digits, '/', up to 126 more, ".note", NUL. */
#define EPF_SIDECAR_PATH_MAX (EPF_MAX_SIDECAR_DIR + 2 * EPF_MAX_BUILD_ID + 8)

struct epf_sidecar {
  const char *path;    /* in r, after the note */
  struct epf_region r; /* the file's bytes (size of them), then its path */
  size_t size;
  struct epf_note n;
};

/*
 * The sidecar of a file without a note of its own (`none` says which: no note, or an empty
 * reservation). Returns 1 when sc->n is a note that belongs to the file, read from sc->path
 * (release sc->r afterwards); else 0, having said why. For a loaded object whose layout digest was not needed
 * yet, `ph` and `phnum` are its program headers.
 */
int epf_find_sidecar(const char *label, const char *none, struct epf_ident *id, const uint8_t *ph, size_t phnum, const struct epf_options *o, struct epf_sidecar *sc);

#endif
