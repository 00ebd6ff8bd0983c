/**
 * Constants of the elfprefetch note, version 1. docs/FORMAT.md is the normative text;
 * shim/epf_note.h repeats these and spec/shim-note.spec.ts keeps the two equal.
 */
export const NOTE_NAME = 'elfprefetch';
/** Owner name as stored: the string and its NUL, 12 bytes, already 4-aligned. */
export const NOTE_NAMESZ = 12;
export const NT_ELFPREFETCH = 1;
export const SECTION_NAME = '.note.elfprefetch';

export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 24;
export const RECORD_HEADER_SIZE = 8;

export const REC_OBJECT = 1;
export const REC_PAGES = 2;
export const OBJECT_FIXED_SIZE = 44;
export const PAGES_FIXED_SIZE = 12;

export const ENC_BITMAP = 0;
export const ENC_RUNS = 1;

/** Header flag: a reservation linked in by `elfprefetch reserve`, not yet stamped. */
export const FLAG_EMPTY = 1;

export const MIN_PAGE_SHIFT = 9;
export const MAX_PAGE_SHIFT = 20;
export const DEFAULT_PAGE_SHIFT = 12;

/** Bounds every reader enforces before it trusts a length. */
export const MAX_DESC_SIZE = 1 << 20;
export const MAX_RECORDS = 4096;
export const MAX_OBJECTS = 1024;
export const MAX_PAGE_COUNT = 1 << 28;
export const MAX_BUILD_ID = 64;
export const MAX_PATH = 4095;
export const MAX_SET_NAME = 64;

export const DEFAULT_SET = 'default';

/** Byte offsets of the descriptor header fields. */
export const H_VERSION = 0;
export const H_HEADER_SIZE = 2;
export const H_USED_SIZE = 4;
export const H_CRC32 = 8;
export const H_PAGE_SHIFT = 12;
export const H_FLAGS = 13;
export const H_RECORD_COUNT = 14;
export const H_OBJECT_COUNT = 16;

/** Byte offsets of a record's header fields. */
export const R_KIND = 0;
export const R_OBJECT = 2;
export const R_SIZE = 4;

/** Byte offsets in an OBJECT record's payload; the build-id, then the path, start at O_BUILD_ID. */
export const O_LAYOUT_DIGEST = 0;
export const O_CONTENT_SHA256 = 8;
export const O_BUILD_ID_LEN = 40;
export const O_PATH_LEN = 42;
export const O_BUILD_ID = 44;

/** Byte offsets in a PAGES record's payload; the name starts at P_NAME. */
export const P_ENCODING = 0;
export const P_NAME_LEN = 1;
export const P_PAGE_COUNT = 4;
export const P_SELECTED = 8;
export const P_NAME = 12;

/** Run list data: u32 count, then run i at RUNS_FIRST + RUN_SIZE * i (first, then count at RUN_COUNT). */
export const RUNS_COUNT = 0;
export const RUNS_FIRST = 4;
export const RUN_SIZE = 8;
export const RUN_COUNT = 4;

/** The layout digest's input (section 2): u32 n, u32 0, then one entry of these fields per PT_LOAD. */
export const L_HEADER_SIZE = 8;
export const L_ENTRY_SIZE = 48;
export const L_OFFSET = 0;
export const L_VADDR = 8;
export const L_FILESZ = 16;
export const L_MEMSZ = 24;
export const L_ALIGN = 32;
export const L_FLAGS = 40;
