/* File inspection (epf_inspect.h): FORMAT.md 1.1 (where the note is) and 2 (the identity). */
#define _GNU_SOURCE
#include "epf_inspect.h"

#include <elf.h>
#include <string.h>
#include <unistd.h>

#if __SIZEOF_POINTER__ == 8
#define EPF_ELFCLASS ELFCLASS64
#else
#define EPF_ELFCLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define EPF_ELFDATA ELFDATA2LSB
#else
#define EPF_ELFDATA ELFDATA2MSB
#endif

void epf_ident_release(struct epf_ident *id) {
  epf_region_release(&id->ph);
  epf_region_release(&id->nr);
}

static uint32_t ld32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void le64_put(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t epf_layout_digest(const uint8_t *ph, size_t phnum) {
  uint32_t n = 0;
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type == PT_LOAD) n++;
  }
  uint8_t b[EPF_L_ENTRY_SIZE];
  le64_put(b, n); /* u32 n, u32 0 */
  uint64_t h = epf_fnv1a64(EPF_FNV_OFFSET, b, EPF_L_HEADER_SIZE);
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type != PT_LOAD) continue;
    le64_put(b + EPF_L_OFFSET, p.p_offset);
    le64_put(b + EPF_L_VADDR, p.p_vaddr);
    le64_put(b + EPF_L_FILESZ, p.p_filesz);
    le64_put(b + EPF_L_MEMSZ, p.p_memsz);
    le64_put(b + EPF_L_ALIGN, p.p_align);
    le64_put(b + EPF_L_FLAGS, p.p_flags); /* u32 flags, u32 0 */
    h = epf_fnv1a64(h, b, EPF_L_ENTRY_SIZE);
  }
  return h;
}

static int name_is(const uint8_t *name, uint32_t namesz, const char *want, uint32_t len) {
  if (namesz == len + 1) return memcmp(name, want, len + 1) == 0;
  return namesz == len && memcmp(name, want, len) == 0;
}

/*
 * Walks the notes of one PT_NOTE (native byte order, `align` 4 or 8): the first GNU build-id and
 * the first elfprefetch note. Returns -1 on a malformed note (then the file is left alone).
 */
static int walk_notes(const uint8_t *p, uint64_t len, uint64_t align, struct epf_ident *id) {
  uint64_t at = 0;
  while (at < len) {
    if (len - at < 12) return -1;
    uint32_t namesz = ld32(p + at), descsz = ld32(p + at + 4), type = ld32(p + at + 8);
    uint64_t name_at = at + 12;
    if (namesz > len - name_at) return -1;
    uint64_t desc_at = (name_at + namesz + align - 1) & ~(align - 1);
    if (desc_at > len || descsz > len - desc_at) return -1;
    const uint8_t *name = p + name_at;
    if (!id->bid_found && type == NT_GNU_BUILD_ID && name_is(name, namesz, "GNU", 3)) {
      id->bid_found = 1;
      if (descsz >= 1 && descsz <= EPF_MAX_BUILD_ID) {
        memcpy(id->bid, p + desc_at, descsz);
        id->bid_len = descsz;
      }
    }
    if (!id->note_found && type == EPF_NT_ELFPREFETCH && name_is(name, namesz, EPF_NOTE_NAME, EPF_NOTE_NAMESZ - 1)) {
      id->note_found = 1;
      id->note_align8 = align == 8;
      id->note = p + desc_at;
      id->note_len = descsz;
    }
    uint64_t next = (desc_at + descsz + align - 1) & ~(align - 1);
    at = next < len ? next : len;
  }
  return 0;
}

static int note_align(uint64_t a) { return a <= 4 ? 4 : a == 8 ? 8 : 0; }

/* Whether 24 bytes are the header of an elfprefetch note entry; its descsz in *descsz. */
static int our_note_header(const uint8_t *h, uint32_t *descsz) {
  if (ld32(h) != EPF_NOTE_NAMESZ || ld32(h + 8) != EPF_NT_ELFPREFETCH || memcmp(h + 12, EPF_NOTE_NAME, EPF_NOTE_NAMESZ) != 0) return 0;
  *descsz = ld32(h + 4);
  return 1;
}

/* The first (last) PT_LOAD in table order: the places beside the loaded image (FORMAT.md 1.1). */
static int beside_places(const uint8_t *ph, size_t phnum, ElfW(Phdr) *first, ElfW(Phdr) *last) {
  int n = 0;
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type != PT_LOAD) continue;
    if (!n++) *first = p;
    *last = p;
  }
  return n;
}

/* Whether [off, off + len) shares a byte with the file content of a PT_LOAD. */
static int overlaps_load(const uint8_t *ph, size_t phnum, uint64_t off, uint64_t len) {
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type == PT_LOAD && p.p_filesz > 0 && p.p_offset < off + len && off < p.p_offset + p.p_filesz) return 1;
  }
  return 0;
}

/*
 * docs/FORMAT.md 1.1: a note no PT_NOTE names sits beside the loaded image, right after the file
 * content of the first PT_LOAD, else of the last one (rounded up to 4), in pages start-up reads
 * anyway. Each place costs one small read (none when it is in the head). Returns -1 only when a
 * note header was found and its descriptor could not be read.
 */
static int find_beside(struct epf_file *f, const uint8_t *head, size_t head_len, const uint8_t *ph, size_t phnum, struct epf_ident *id) {
  ElfW(Phdr) load[2];
  if (!beside_places(ph, phnum, &load[0], &load[1])) return 0;
  for (int k = 0; k < 2; k++) {
    if (k == 1 && load[1].p_offset == load[0].p_offset) break;
    uint64_t end = load[k].p_offset + load[k].p_filesz;
    if (end < load[k].p_offset || end > UINT64_MAX - 32) continue;
    uint64_t at = (end + 3) & ~(uint64_t)3;
    uint8_t buf[24];
    const uint8_t *h = buf;
    if (at <= head_len && head_len - at >= sizeof buf) h = head + at;
    /* a lone small read far from the head: the kernel reads that page alone, no advice needed */
    else if (epf_own_add(&f->own, at, sizeof buf), epf_pread_full(f->fd, buf, sizeof buf, at) != 0) continue;
    uint32_t descsz;
    if (!our_note_header(h, &descsz) || descsz > EPF_MAX_DESC_SIZE || overlaps_load(ph, phnum, at, 24 + (uint64_t)descsz)) continue;
    const uint8_t *desc = epf_file_bytes(f, head, head_len, at + 24, descsz, &id->nr);
    if (!desc) return -1;
    id->note = desc;
    id->note_len = descsz;
    id->note_found = 1;
    return 0;
  }
  return 0;
}

/*
 * The same for a loaded object, without a system call: a place is read where the segment's last
 * page is mapped, when that page holds file bytes (no bss) and the note header lies inside it.
 * Returns 1 when a note header is there: the caller then reads the file. The last PT_LOAD
 * usually has bss (zeroed in memory), so a note there is found by the file-based hooks only.
 */
static int beside_mapped(ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum) {
  ElfW(Phdr) load[2];
  if (!beside_places((const uint8_t *)phdr, phnum, &load[0], &load[1])) return 0;
  long pagesize = sysconf(_SC_PAGESIZE);
  uint64_t page = pagesize > 0 ? (uint64_t)pagesize : 4096;
  for (int k = 0; k < 2; k++) {
    const ElfW(Phdr) *p = &load[k];
    uint64_t end = p->p_vaddr + p->p_filesz;
    uint64_t at = (end + 3) & ~(uint64_t)3;
    if (p->p_filesz == 0 || p->p_filesz != p->p_memsz || !(p->p_flags & PF_R) || end % page == 0 || (at + 24 - 1) / page != (end - 1) / page) continue;
    uint32_t descsz;
    if (our_note_header((const uint8_t *)(uintptr_t)(base + at), &descsz)) return 1;
  }
  return 0;
}

const char *epf_inspect_file(struct epf_file *f, uint8_t *head, struct epf_ident *id, int want_note) {
  memset(id, 0, sizeof *id);
  epf_own_add(&f->own, 0, EPF_HEAD_BYTES);
  ssize_t got = epf_read_head(f->fd, head);
  if (got < (ssize_t)sizeof(ElfW(Ehdr))) return "not an ELF file";
  size_t head_len = (size_t)got;
  ElfW(Ehdr) eh;
  memcpy(&eh, head, sizeof eh);
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
  if (eh.e_ident[EI_CLASS] != EPF_ELFCLASS || eh.e_ident[EI_DATA] != EPF_ELFDATA || eh.e_ident[EI_VERSION] != EV_CURRENT)
    return "not a native ELF file";
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) return "not an executable or shared object";
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM) return "unusable program header table";
  uint64_t phbytes = (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr));
  if (phbytes > EPF_MAX_PHDR_BYTES) return "program header table too large";
  const uint8_t *ph = epf_file_bytes(f, head, head_len, eh.e_phoff, phbytes, &id->ph);
  if (!ph) return "cannot read the program headers";
  id->layout = epf_layout_digest(ph, eh.e_phnum);
  id->have_layout = 1;
  for (size_t i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type != PT_NOTE || p.p_filesz == 0) continue;
    int align = note_align(p.p_align);
    if (!align) return "note segment with a bad alignment";
    if (p.p_filesz > EPF_MAX_NOTE_SEGMENT) return "note segment too large";
    /* Only a 4-aligned segment can hold our note; an 8-aligned one is read for a build-id. */
    if (id->bid_found && (id->note_found || !want_note || align == 8)) continue;
    struct epf_region r = {0, 0};
    const uint8_t *notes = epf_file_bytes(f, head, head_len, p.p_offset, p.p_filesz, &r);
    if (!notes) return "cannot read a note segment";
    int had = id->note_found;
    if (walk_notes(notes, p.p_filesz, (uint64_t)align, id) != 0) {
      epf_region_release(&r);
      return "malformed note";
    }
    if (!had && id->note_found && r.map) id->nr = r; /* keep the mapping the note lives in */
    else epf_region_release(&r);
    if (id->note_found && id->note_align8) return "elfprefetch note in an 8-aligned segment";
  }
  if (want_note && !id->note_found && find_beside(f, head, head_len, ph, eh.e_phnum, id) != 0) return "cannot read the note beside the segments";
  epf_region_release(&id->ph);
  return 0;
}

const char *epf_inspect_mapped(ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, struct epf_ident *id) {
  memset(id, 0, sizeof *id);
  if (!phdr || phnum == 0 || phnum > EPF_MAX_PHDR_BYTES / sizeof(ElfW(Phdr))) return "no program headers";
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &phdr[i];
    if (p->p_type != PT_NOTE || p->p_filesz == 0) continue;
    int align = note_align(p->p_align);
    if (!align) return "note segment with a bad alignment";
    if (p->p_filesz > EPF_MAX_NOTE_SEGMENT) return "note segment too large";
    /* The bytes must be mapped from the file and readable: inside a PT_LOAD's file part. */
    int mapped = 0;
    for (size_t k = 0; k < phnum && !mapped; k++) {
      const ElfW(Phdr) *l = &phdr[k];
      if (l->p_type != PT_LOAD || !(l->p_flags & PF_R)) continue;
      if (p->p_vaddr < l->p_vaddr || p->p_filesz > l->p_filesz || p->p_vaddr - l->p_vaddr > l->p_filesz - p->p_filesz) continue;
      if (p->p_offset < l->p_offset || p->p_offset - l->p_offset != p->p_vaddr - l->p_vaddr) continue;
      mapped = 1;
    }
    if (!mapped) return "note segment not mapped";
    if (id->bid_found && (id->note_found || align == 8)) continue;
    if (walk_notes((const uint8_t *)(base + p->p_vaddr), p->p_filesz, (uint64_t)align, id) != 0) return "malformed note";
    if (id->note_found && id->note_align8) return "elfprefetch note in an 8-aligned segment";
  }
  if (!id->note_found) {
    id->note_beside = beside_mapped(base, phdr, phnum);
    return 0; /* no system call, no digest: the cheap path */
  }
  id->layout = epf_layout_digest((const uint8_t *)phdr, phnum);
  id->have_layout = 1;
  return 0;
}

int epf_same_build(const struct epf_object *obj, const struct epf_ident *id) {
  return obj->layout_digest == id->layout && obj->build_id_len == id->bid_len && memcmp(obj->build_id, id->bid, id->bid_len) == 0;
}

const char *const epf_note_why[] = {"", "an empty reservation", "note of another format version", "corrupt note", "stale note (another build-id)", "stale note (another layout)"};

int epf_check_note(struct epf_note *n, const uint8_t *desc, size_t len, const struct epf_ident *id) {
  int e = epf_note_open(n, desc, len);
  if (e != EPF_OK) return e == EPF_E_VERSION ? EPF_NOTE_VERSION : EPF_NOTE_CORRUPT;
  if (n->empty) return EPF_NOTE_EMPTY;
  struct epf_object self;
  if (epf_note_object(n, 0, &self) != EPF_OK) return EPF_NOTE_CORRUPT;
  if (self.build_id_len != id->bid_len || memcmp(self.build_id, id->bid, id->bid_len) != 0) return EPF_NOTE_OTHER_BUILD_ID;
  if (self.layout_digest != id->layout) return EPF_NOTE_OTHER_LAYOUT;
  return EPF_NOTE_OK;
}
