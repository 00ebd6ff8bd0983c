/*
 * elfprefetch note, format version 1: constants and a parser that never trusts a field.
 * docs/FORMAT.md is the normative text; spec/shim-note.spec.ts keeps these values equal
 * to src/note/format.ts. C99, no allocation, no libc beyond memcmp/memcpy-free byte loads.
 */
#ifndef EPF_NOTE_H
#define EPF_NOTE_H

#include <stddef.h>
#include <stdint.h>

#define EPF_NOTE_NAME "elfprefetch"
#define EPF_NOTE_NAMESZ 12
#define EPF_NT_ELFPREFETCH 1
#define EPF_SECTION_NAME ".note.elfprefetch"

#define EPF_FORMAT_VERSION 1
#define EPF_HEADER_SIZE 24
#define EPF_RECORD_HEADER_SIZE 8
#define EPF_REC_OBJECT 1
#define EPF_REC_PAGES 2
#define EPF_OBJECT_FIXED_SIZE 44
#define EPF_PAGES_FIXED_SIZE 12
#define EPF_ENC_BITMAP 0
#define EPF_ENC_RUNS 1
#define EPF_FLAG_EMPTY 1
#define EPF_MIN_PAGE_SHIFT 9
#define EPF_MAX_PAGE_SHIFT 20
#define EPF_MAX_DESC_SIZE (1u << 20)
#define EPF_MAX_RECORDS 4096
#define EPF_MAX_OBJECTS 1024
#define EPF_MAX_PAGE_COUNT (1u << 28)
#define EPF_MAX_BUILD_ID 64
#define EPF_MAX_PATH 4095
#define EPF_MAX_SET_NAME 64

/* Byte offsets of the fields (FORMAT.md 3.1 and 3.2): the header; a record's header; an OBJECT
 * record's and a PAGES record's payload; run list data (run i at EPF_RUNS_FIRST + EPF_RUN_SIZE * i,
 * its count EPF_RUN_COUNT after). */
#define EPF_H_VERSION 0
#define EPF_H_HEADER_SIZE 2
#define EPF_H_USED_SIZE 4
#define EPF_H_CRC32 8
#define EPF_H_PAGE_SHIFT 12
#define EPF_H_FLAGS 13
#define EPF_H_RECORD_COUNT 14
#define EPF_H_OBJECT_COUNT 16
#define EPF_R_KIND 0
#define EPF_R_OBJECT 2
#define EPF_R_SIZE 4
#define EPF_O_LAYOUT_DIGEST 0
#define EPF_O_CONTENT_SHA256 8
#define EPF_O_BUILD_ID_LEN 40
#define EPF_O_PATH_LEN 42
#define EPF_O_BUILD_ID 44
#define EPF_P_ENCODING 0
#define EPF_P_NAME_LEN 1
#define EPF_P_PAGE_COUNT 4
#define EPF_P_SELECTED 8
#define EPF_P_NAME 12
#define EPF_RUNS_COUNT 0
#define EPF_RUNS_FIRST 4
#define EPF_RUN_SIZE 8
#define EPF_RUN_COUNT 4
/* The layout digest's input (FORMAT.md 2): a header (u32 n, u32 0), then per PT_LOAD an entry of
 * these fields. */
#define EPF_L_HEADER_SIZE 8
#define EPF_L_ENTRY_SIZE 48
#define EPF_L_OFFSET 0
#define EPF_L_VADDR 8
#define EPF_L_FILESZ 16
#define EPF_L_MEMSZ 24
#define EPF_L_ALIGN 32
#define EPF_L_FLAGS 40

/* Why a descriptor was refused (0 is success). */
enum epf_error {
  EPF_OK = 0,
  EPF_E_SIZE = -1,
  EPF_E_VERSION = -2,
  EPF_E_CHECKSUM = -3,
  EPF_E_FIELD = -4,
  EPF_E_RECORD = -5,
  EPF_E_BOUNDS = -6,
  EPF_E_NOTFOUND = -7,
};

/* A descriptor that passed every check of epf_note_open. */
struct epf_note {
  const uint8_t *d;
  uint32_t used;
  uint32_t header_size;
  uint32_t page_shift;
  uint32_t record_count;
  uint32_t object_count;
  int empty;
};

struct epf_object {
  uint32_t index;
  uint64_t layout_digest;
  const uint8_t *content_sha256;
  const uint8_t *build_id;
  uint32_t build_id_len;
  const char *path; /* not NUL-terminated */
  uint32_t path_len;
};

/* Called for each run of a page set, in file order; a non-zero return stops the walk. */
typedef int (*epf_run_fn)(void *ctx, uint32_t first, uint32_t count);

uint32_t epf_crc32(const uint8_t *p, size_t n);
uint64_t epf_fnv1a64(uint64_t h, const uint8_t *p, size_t n);
#define EPF_FNV_OFFSET 0xcbf29ce484222325ull

/* Validates the whole descriptor (lengths, checksum, record order, every run). */
int epf_note_open(struct epf_note *n, const uint8_t *desc, size_t len);
/* Object `index` (0: the file itself). */
int epf_note_object(const struct epf_note *n, uint32_t index, struct epf_object *out);
/* Walks the runs of the set named `set` of object `object`; EPF_E_NOTFOUND if none. */
int epf_note_runs(const struct epf_note *n, uint32_t object, const char *set, size_t set_len, epf_run_fn fn, void *ctx);

#endif
