/*
 * File inspection: the identity of an ELF file (build-id, layout digest) and where its
 * elfprefetch note is (docs/FORMAT.md 1.1 and 2), read from the file or from memory where the
 * object is loaded; and what a descriptor is to that file.
 */
#ifndef EPF_INSPECT_H
#define EPF_INSPECT_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

#include "epf_file.h"
#include "epf_note.h"

struct epf_ident {
  uint64_t layout;
  int have_layout;
  uint32_t bid_len;
  int bid_found;
  uint8_t bid[EPF_MAX_BUILD_ID];
  const uint8_t *note; /* our descriptor */
  uint32_t note_len;
  int note_found;
  int note_align8; /* the first elfprefetch note sits in an 8-aligned segment */
  int note_beside; /* a loaded object's note is beside its segments: read it from the file */
  struct epf_region ph, nr;
};

void epf_ident_release(struct epf_ident *id);

/* FNV-1a 64 over "u32 n, u32 0" and, per PT_LOAD in table order, the 48-byte entry of FORMAT.md 2. */
uint64_t epf_layout_digest(const uint8_t *ph, size_t phnum);

/*
 * Reads the identity of an open file into id (head: EPF_HEAD_BYTES of room) and, if want_note,
 * finds its note (kept in id->nr when outside the head). NULL, or why the file is left alone.
 */
const char *epf_inspect_file(struct epf_file *f, uint8_t *head, struct epf_ident *id, int want_note);

/* The same for a loaded object: note segments are read where they are mapped. */
const char *epf_inspect_mapped(ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, struct epf_ident *id);

/* Whether a note's object record names the file whose identity is id. */
int epf_same_build(const struct epf_object *obj, const struct epf_ident *id);

/* What a descriptor is to the file whose identity is `id`, and how to say so (epf_note_why). */
enum { EPF_NOTE_OK, EPF_NOTE_EMPTY, EPF_NOTE_VERSION, EPF_NOTE_CORRUPT, EPF_NOTE_OTHER_BUILD_ID, EPF_NOTE_OTHER_LAYOUT };
extern const char *const epf_note_why[];

/* Validates the descriptor into n and checks that object 0 is the file (FORMAT.md 2 and 4). */
int epf_check_note(struct epf_note *n, const uint8_t *desc, size_t len, const struct epf_ident *id);

#endif
