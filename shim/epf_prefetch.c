/*
 * The loader shim core: see epf_prefetch.h. docs/FORMAT.md sections 2 and 4 are the rules.
 * Reads at most the ELF header, the program header table and the note segments of a file
 * (pread into a page on the stack; anything outside it into an anonymous mapping of exactly
 * the size needed), validates the note with epf_note_open, checks the build identity and
 * issues readahead(2) requests planned by the coalescer.
 */
#define _GNU_SOURCE
#include "epf_prefetch.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "epf_note.h"

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

#define HEAD_BYTES 4096

/* ---------------------------------------------------------------- devices and the plan */

static const struct epf_device devices[] = {
    {"hdd", 100, 150000000ull},
    {"ssd", 10000, 500000000ull},
    {"nvme", 100000, 2000000000ull},
    {"net", 100, 30000000ull},
};

const struct epf_device *epf_device_by_name(const char *name) {
  if (!name) return 0;
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
    if (strcmp(name, devices[i].name) == 0) return &devices[i];
  return 0;
}

void epf_plan_init(struct epf_plan *p, uint64_t file_size, uint32_t page_shift, const struct epf_device *dev, epf_request_fn emit, void *ctx) {
  memset(p, 0, sizeof *p);
  p->file_size = file_size;
  p->page_shift = page_shift;
  p->iops = dev->iops;
  p->bandwidth = dev->bandwidth;
  p->emit = emit;
  p->ctx = ctx;
}

static void plan_emit(struct epf_plan *p, uint64_t start, uint64_t end) {
  p->requests++;
  p->bytes += end - start;
  p->emit(p->ctx, start, end - start);
}

int epf_plan_run(void *plan, uint32_t first, uint32_t count) {
  struct epf_plan *p = plan;
  if (p->done) return 1;
  if (count == 0 || p->page_shift > 20) return 0;
  uint64_t a = (uint64_t)first << p->page_shift;
  uint64_t b = ((uint64_t)first + count) << p->page_shift;
  if (a >= p->file_size) {
    p->done = 1; /* runs come sorted: nothing after this is in the file either */
    return 1;
  }
  if (b > p->file_size) {
    b = p->file_size;
    p->done = 1;
  }
  p->runs++;
  /* Merge the hole iff reading it costs less than the request it saves: h/bw < 1/iops. The size
   * test comes first, so h < 1 MiB and h * iops cannot overflow. */
  if (p->have && a >= p->end && b - p->start <= EPF_MAX_REQUEST && (a - p->end) * p->iops < p->bandwidth) {
    p->end = b;
    return p->done;
  }
  if (p->have) plan_emit(p, p->start, p->end);
  while (b - a > EPF_MAX_REQUEST) {
    plan_emit(p, a, a + EPF_MAX_REQUEST);
    a += EPF_MAX_REQUEST;
  }
  p->have = 1;
  p->start = a;
  p->end = b;
  return p->done;
}

void epf_plan_finish(struct epf_plan *p) {
  if (p->have) plan_emit(p, p->start, p->end);
  p->have = 0;
}

/* ---------------------------------------------------------------- options and diagnostics */

static int flag_on(const char *v) { return v && v[0] && !(v[0] == '0' && v[1] == 0); }

/* The compiled-in sidecar directory must fit (checked when compiling) and be absolute (else no
 * sidecar is read unless ELFPREFETCH_SIDECAR names a directory). */
typedef char epf_sidecar_dir_fits[sizeof EPF_SIDECAR_DIR >= 2 && sizeof EPF_SIDECAR_DIR <= EPF_MAX_SIDECAR_DIR + 1 ? 1 : -1];

/* An absolute directory of at most EPF_MAX_SIDECAR_DIR bytes, without trailing slashes. */
static void set_sidecar_dir(struct epf_options *o, const char *dir) {
  size_t n = strlen(dir);
  if (dir[0] != '/' || n > EPF_MAX_SIDECAR_DIR) return;
  while (n > 1 && dir[n - 1] == '/') n--;
  memcpy(o->sidecar, dir, n);
  o->sidecar[n] = 0;
}

void epf_options_load(struct epf_options *o) {
  memset(o, 0, sizeof *o);
  memcpy(o->set, "default", 8);
  o->set_len = 7;
  set_sidecar_dir(o, EPF_SIDECAR_DIR);
  o->residency = 1;
  /* Secure mode (setuid, setgid, capabilities): the environment is not ours to trust. */
  if (getauxval(AT_SECURE)) return;
  o->disabled = flag_on(getenv("ELFPREFETCH_DISABLE"));
  o->debug = flag_on(getenv("ELFPREFETCH_DEBUG"));
  const char *set = getenv("ELFPREFETCH_SET");
  if (set) {
    size_t n = strlen(set);
    if (n >= 1 && n <= EPF_MAX_SET_NAME) {
      memcpy(o->set, set, n + 1);
      o->set_len = n;
    }
  }
  const char *res = getenv("ELFPREFETCH_RESIDENCY");
  if (res && res[0] == '0' && res[1] == 0) o->residency = 0;
  const char *dev = getenv("ELFPREFETCH_DEVICE");
  if (dev && dev[0]) o->device = epf_device_by_name(dev);
  const char *dir = getenv("ELFPREFETCH_SIDECAR");
  if (dir) {
    if (dir[0] == '/' && strlen(dir) <= EPF_MAX_SIDECAR_DIR) set_sidecar_dir(o, dir);
    else epf_debug(o, "ELFPREFETCH_SIDECAR", "not an absolute path of at most 1024 bytes, ignored", 0);
  }
}

struct line {
  char b[640];
  size_t n;
};

static void put(struct line *l, const char *s) {
  while (*s && l->n < sizeof l->b - 2) l->b[l->n++] = *s++;
}

static void put_u64(struct line *l, uint64_t v) {
  char t[24];
  int i = 0;
  do t[i++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (i > 0 && l->n < sizeof l->b - 2) l->b[l->n++] = t[--i];
}

static void emit_line(struct line *l) {
  l->b[l->n++] = '\n';
  size_t off = 0;
  while (off < l->n) {
    ssize_t w = write(2, l->b + off, l->n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
}

void epf_debug(const struct epf_options *o, const char *file, const char *a, const char *b) {
  if (!o->debug) return;
  struct line l;
  l.n = 0;
  put(&l, "elfprefetch: ");
  put(&l, file ? file : "?");
  put(&l, ": ");
  put(&l, a);
  if (b) put(&l, b);
  emit_line(&l);
}

/* ---------------------------------------------------------------- files */

int epf_seen_has(const struct epf_seen *seen, uint64_t dev, uint64_t ino) {
  if (!seen) return 0;
  for (uint32_t i = 0; i < seen->count && i < EPF_MAX_SEEN; i++)
    if (seen->file[i].dev == dev && seen->file[i].ino == ino) return 1;
  return 0;
}

static void seen_add(struct epf_seen *seen, const struct stat *st) {
  if (!seen || seen->count >= EPF_MAX_SEEN || epf_seen_has(seen, st->st_dev, st->st_ino)) return;
  seen->file[seen->count].dev = st->st_dev;
  seen->file[seen->count].ino = st->st_ino;
  seen->count++;
}

/*
 * Opens a regular file for reading. Paths that come from a note are untrusted: they are
 * stat()ed first so a device or FIFO is never opened (an open can have side effects).
 */
static int open_regular(const char *path, struct stat *st, int untrusted) {
  struct stat pre;
  if (untrusted && (stat(path, &pre) != 0 || !S_ISREG(pre.st_mode))) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 ||
      (untrusted && (st->st_dev != pre.st_dev || st->st_ino != pre.st_ino))) {
    close(fd);
    return -1;
  }
  return fd;
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define EPF_RESOLVE_NO_MAGICLINKS 0x02
#define EPF_RESOLVE_IN_ROOT 0x10

/* openat2(2) with RESOLVE_IN_ROOT: ".." and absolute symbolic links stay inside root_fd. */
static int open_beneath(int root_fd, const char *path, int flags) {
  struct {
    uint64_t flags, mode, resolve;
  } how = {(uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY)), 0, EPF_RESOLVE_IN_ROOT | EPF_RESOLVE_NO_MAGICLINKS};
  long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  return fd < 0 ? -1 : (int)fd;
}

/* open_regular(path, st, 1) for a path inside root_fd: looked at through O_PATH (which opens
 * nothing: no FIFO or device is ever opened), then opened and checked to be that same file.
 * Before Linux 5.6 (no openat2) nothing is opened. */
static int open_regular_in(int root_fd, const char *path, struct stat *st) {
  struct stat pre;
  int probe = open_beneath(root_fd, path, O_PATH);
  if (probe < 0) return -1;
  int ok = fstat(probe, &pre) == 0 && S_ISREG(pre.st_mode);
  close(probe);
  if (!ok) return -1;
  int fd = open_beneath(root_fd, path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) return -1;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 || st->st_dev != pre.st_dev || st->st_ino != pre.st_ino) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads exactly len bytes at off, or fails. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    done += (size_t)n;
  }
  return 0;
}

/* Bytes of the file outside the first page: an anonymous mapping of exactly their size. */
struct region {
  void *map;
  size_t len;
};

static void region_release(struct region *r) {
  if (r->map) munmap(r->map, r->len);
  r->map = 0;
  r->len = 0;
}

/* An open file whose fstat is done only when needed (objects without a note never need it). */
struct file {
  int fd;
  int have_st;
  struct stat st;
};

static int file_stat(struct file *f) {
  if (!f->have_st) {
    if (fstat(f->fd, &f->st) != 0 || !S_ISREG(f->st.st_mode) || f->st.st_size < 0) return -1;
    f->have_st = 1;
  }
  return 0;
}

/* The first HEAD_BYTES of the file (fewer at its end); -1 on a read error. */
static ssize_t read_head(int fd, uint8_t *head) {
  size_t done = 0;
  while (done < HEAD_BYTES) {
    ssize_t n = pread(fd, head + done, HEAD_BYTES - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/*
 * [off, off + len) of the file: from the head buffer when it holds them, else (inside the file
 * and at most EPF_MAX_NOTE_SEGMENT + EPF_MAX_PHDR_BYTES long) read into r. NULL when out of bounds.
 */
static const uint8_t *file_bytes(struct file *f, const uint8_t *head, size_t head_len, uint64_t off, uint64_t len, struct region *r) {
  if (off <= head_len && len <= head_len - off) return head + off;
  if (len == 0 || len > EPF_MAX_NOTE_SEGMENT + EPF_MAX_PHDR_BYTES || file_stat(f) != 0) return 0;
  uint64_t size = (uint64_t)f->st.st_size;
  if (off > size || len > size - off) return 0;
  void *m = mmap(0, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;
  r->map = m;
  r->len = (size_t)len;
  if (pread_full(f->fd, m, (size_t)len, off) != 0) {
    region_release(r);
    return 0;
  }
  return m;
}

/* ---------------------------------------------------------------- identity */

struct ident {
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
  struct region ph, nr;
};

static void ident_release(struct ident *id) {
  region_release(&id->ph);
  region_release(&id->nr);
}

static uint32_t ld32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void le64_put(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* FNV-1a 64 over "u32 n, u32 0" and, per PT_LOAD in table order, the 48-byte entry of FORMAT.md 2. */
static uint64_t layout_digest(const uint8_t *ph, size_t phnum) {
  uint32_t n = 0;
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type == PT_LOAD) n++;
  }
  uint8_t b[48];
  memset(b, 0, 8);
  le64_put(b, n); /* u32 n, u32 0 */
  uint64_t h = epf_fnv1a64(EPF_FNV_OFFSET, b, 8);
  for (size_t i = 0; i < phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, ph + i * sizeof p, sizeof p);
    if (p.p_type != PT_LOAD) continue;
    le64_put(b, p.p_offset);
    le64_put(b + 8, p.p_vaddr);
    le64_put(b + 16, p.p_filesz);
    le64_put(b + 24, p.p_memsz);
    le64_put(b + 32, p.p_align);
    le64_put(b + 40, p.p_flags); /* u32 flags, u32 0 */
    h = epf_fnv1a64(h, b, 48);
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
static int walk_notes(const uint8_t *p, uint64_t len, uint64_t align, struct ident *id) {
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
static int find_beside(struct file *f, const uint8_t *head, size_t head_len, const uint8_t *ph, size_t phnum, struct ident *id) {
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
    else if (pread_full(f->fd, buf, sizeof buf, at) != 0) continue;
    uint32_t descsz;
    if (!our_note_header(h, &descsz) || descsz > EPF_MAX_DESC_SIZE || overlaps_load(ph, phnum, at, 24 + (uint64_t)descsz)) continue;
    const uint8_t *desc = file_bytes(f, head, head_len, at + 24, descsz, &id->nr);
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

/* Reads the identity of an open file and finds its note (kept in id->nr when outside the head). */
static const char *inspect_file(struct file *f, uint8_t *head, struct ident *id, int want_note) {
  memset(id, 0, sizeof *id);
  ssize_t got = read_head(f->fd, head);
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
  const uint8_t *ph = file_bytes(f, head, head_len, eh.e_phoff, phbytes, &id->ph);
  if (!ph) return "cannot read the program headers";
  id->layout = layout_digest(ph, eh.e_phnum);
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
    struct region r = {0, 0};
    const uint8_t *notes = file_bytes(f, head, head_len, p.p_offset, p.p_filesz, &r);
    if (!notes) return "cannot read a note segment";
    int had = id->note_found;
    if (walk_notes(notes, p.p_filesz, (uint64_t)align, id) != 0) {
      region_release(&r);
      return "malformed note";
    }
    if (!had && id->note_found && r.map) id->nr = r; /* keep the mapping the note lives in */
    else region_release(&r);
    if (id->note_found && id->note_align8) return "elfprefetch note in an 8-aligned segment";
  }
  if (want_note && !id->note_found && find_beside(f, head, head_len, ph, eh.e_phnum, id) != 0) return "cannot read the note beside the segments";
  region_release(&id->ph);
  return 0;
}

/* The same for a loaded object: note segments are read where they are mapped. */
static const char *inspect_mapped(ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, struct ident *id) {
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
  id->layout = layout_digest((const uint8_t *)phdr, phnum);
  id->have_layout = 1;
  return 0;
}

static int same_build(const struct epf_object *obj, const struct ident *id) {
  return obj->layout_digest == id->layout && obj->build_id_len == id->bid_len && memcmp(obj->build_id, id->bid, id->bid_len) == 0;
}

/* What a descriptor is to the file whose identity is `id`, and how to say so. */
enum { NOTE_OK, NOTE_EMPTY, NOTE_VERSION, NOTE_CORRUPT, NOTE_OTHER_BUILD_ID, NOTE_OTHER_LAYOUT };
static const char *const note_why[] = {"", "an empty reservation", "note of another format version", "corrupt note", "stale note (another build-id)", "stale note (another layout)"};
static const char *const sidecar_why[] = {"", "an empty note", "a note of another format version", "corrupt", "another build-id", "another layout"};

/* Validates the descriptor into n and checks that object 0 is the file (FORMAT.md 2 and 4). */
static int check_note(struct epf_note *n, const uint8_t *desc, size_t len, const struct ident *id) {
  int e = epf_note_open(n, desc, len);
  if (e != EPF_OK) return e == EPF_E_VERSION ? NOTE_VERSION : NOTE_CORRUPT;
  if (n->empty) return NOTE_EMPTY;
  struct epf_object self;
  if (epf_note_object(n, 0, &self) != EPF_OK) return NOTE_CORRUPT;
  if (self.build_id_len != id->bid_len || memcmp(self.build_id, id->bid, id->bid_len) != 0) return NOTE_OTHER_BUILD_ID;
  if (self.layout_digest != id->layout) return NOTE_OTHER_LAYOUT;
  return NOTE_OK;
}

/* ---------------------------------------------------------------- prefetching */

/* ---------------------------------------------------------------- residency */

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

/* One set's residency checks: the file, and the mapping mincore needs (made on first use). */
struct resident {
  int fd;
  uint64_t size;
  void *map; /* MAP_FAILED: could not map, every page counts as not cached */
};

static int page_cached(struct resident *c, uint64_t off) {
  uint64_t psize = getauxval(AT_PAGESZ);
  if (psize == 0 || (psize & (psize - 1))) psize = 4096;
  off &= ~(psize - 1);
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

static void resident_release(struct resident *c) {
  if (c->map && c->map != MAP_FAILED) munmap(c->map, (size_t)c->size);
  c->map = 0;
}

/* ---------------------------------------------------------------- the device class */

/* A device class and why it was chosen (the debug line says it; src/plan/device.ts is the twin). */
struct devpick {
  const struct epf_device *dev;
  const char *why; /* 0 when ELFPREFETCH_DEVICE chose it */
  int loop;        /* a loop device: `why` is about its backing file's device */
};

/* A small sysfs file into buf, NUL-terminated, without its trailing newline; its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return -1;
  ssize_t n = read(f, buf, cap - 1);
  close(f);
  if (n < 0) return -1;
  while (n > 0 && buf[n - 1] == '\n') n--;
  buf[n] = 0;
  return n;
}

static void sys_block(struct line *p, unsigned maj, unsigned min, const char *tail) {
  p->n = 0;
  put(p, "/sys/dev/block/");
  put_u64(p, maj);
  put(p, ":");
  put_u64(p, min);
  put(p, tail);
  p->b[p->n] = 0;
}

/* NFS, CIFS/SMB (two), FUSE, 9p, Ceph, GFS2. */
static int network_fs(unsigned long t) {
  return t == 0x6969 || t == 0xFF534D42ul || t == 0xFE534D42ul || t == 0x65735546 || t == 0x01021997 || t == 0x00c36400 || t == 0x47504653;
}

/*
 * The class of block device MAJ:MIN. A loop device is what its backing file lies on (the loop's
 * own rotational flag is copied from there at set-up, or is a default). A virtio disk's
 * rotational flag is the driver's default (1) whatever the host has, and such disks are
 * nearly always SSD or network storage: ssd. Else the rotational flag (a partition's is its
 * parent's): 1 hdd, 0 ssd; ssd when nothing says.
 */
static struct devpick block_class(unsigned maj, unsigned min, int depth) {
  struct line p;
  char buf[512];
  sys_block(&p, maj, min, "/loop/backing_file");
  if (depth < 4 && read_small(p.b, buf, sizeof buf) > 0 && buf[0] == '/') {
    struct stat b;
    struct statfs fs;
    if (stat(buf, &b) == 0) {
      struct devpick d = {&devices[1], "unknown device", 1};
      if (major(b.st_dev) != 0) d = block_class(major(b.st_dev), minor(b.st_dev), depth + 1);
      else if (statfs(buf, &fs) == 0 && network_fs((unsigned long)fs.f_type)) d = (struct devpick){&devices[3], "network file system", 0};
      d.loop = 1;
      return d;
    }
  }
  const char *tails[2] = {"/queue/rotational", "/../queue/rotational"};
  for (int k = 0; k < 2; k++) {
    sys_block(&p, maj, min, tails[k]);
    if (read_small(p.b, buf, sizeof buf) < 1) continue;
    if (buf[0] != '1') return (struct devpick){&devices[1], "non-rotational", 0};
    sys_block(&p, maj, min, "");
    ssize_t n = readlink(p.b, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      if (strstr(buf, "/virtio")) return (struct devpick){&devices[1], "virtio disk, its rotational flag says nothing", 0};
    }
    return (struct devpick){&devices[0], "rotational", 0};
  }
  return (struct devpick){&devices[1], "unknown device", 0};
}

/* The device class of the file's device: ELFPREFETCH_DEVICE, else what the system says. */
static struct devpick device_for(const struct epf_options *o, int fd, const struct stat *st) {
  static uint64_t cached_dev;
  static struct devpick cached;
  if (o->device) return (struct devpick){o->device, 0, 0};
  if (cached.dev && cached_dev == (uint64_t)st->st_dev) return cached;
  struct devpick d = {&devices[1], "unknown device", 0};
  if (major(st->st_dev) == 0) {
    /* An anonymous device: network and FUSE file systems count as net. */
    struct statfs fs;
    if (fstatfs(fd, &fs) == 0 && network_fs((unsigned long)fs.f_type)) d = (struct devpick){&devices[3], "network file system", 0};
  } else {
    d = block_class(major(st->st_dev), minor(st->st_dev), 0);
  }
  cached_dev = st->st_dev;
  cached = d;
  return d;
}

/* ---------------------------------------------------------------- issuing requests */

/* What a set's requests came to: issued, or left out because their pages were cached already. */
struct tally {
  uint32_t issued, cached;
  uint64_t issued_bytes, cached_bytes;
  int fadvise; /* a file system without readahead: the rest went through fadvise */
  int look;    /* residency: 0 not decided yet, 1 look at each request, -1 issue all unlooked */
};

struct ra {
  int fd;
  uint32_t from, to; /* only requests from..to-1 of the plan (to 0: to the end) */
  uint32_t seen;     /* requests planned so far */
  struct resident c;
  struct tally *t;
  uint64_t *budget;  /* the caller's byte budget (o->budget, the daemon's), or NULL */
};

/*
 * A request is left out when the pages at both its ends are cached: a merged request starts and
 * ends with pages of the set, and a set's pages are cached together by whatever read them last
 * (a start, or this shim). Two one-page checks cost about a microsecond; checking every page would
 * cost about as much as the readahead call it saves (docs/SHIM.md). The first request decides for
 * the rest: if its last page is not cached the file is taken as cold and everything is issued
 * without looking again, so a cold start pays one check per set.
 */
static void issue(void *ctx, uint64_t off, uint64_t len) {
  struct ra *r = ctx;
  uint32_t k = r->seen++;
  if (k < r->from || (r->to && k >= r->to)) return;
  if (r->t->look >= 0) {
    int first = r->t->look == 0, cached = page_cached(&r->c, off + len - 1);
    if (first) r->t->look = cached ? 1 : -1;
    if (cached && page_cached(&r->c, off)) {
      r->t->cached++;
      r->t->cached_bytes += len;
      return;
    }
  }
  if (r->budget) {
    if (*r->budget < len) {
      *r->budget = 0; /* spent: later, smaller requests are not issued either */
      return;
    }
    *r->budget -= len;
  }
  r->t->issued++;
  r->t->issued_bytes += len;
  if (!r->t->fadvise) {
    if (readahead(r->fd, (off64_t)off, (size_t)len) == 0) return;
    r->t->fadvise = 1;
  }
  posix_fadvise(r->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

/* " (sidecar PATH)" after a diagnostic about a note read from a sidecar. */
static void put_via(struct line *l, const char *via) {
  if (!via) return;
  put(l, " (sidecar ");
  put(l, via);
  put(l, ")");
}

/*
 * Prefetches page set o->set of object `index` of note n from fd: the plan's requests from..to-1
 * (to 0: all the rest; only then is the diagnostic line written), adding what it did to *t.
 * Requests whose pages are cached already are left out (issue() above). Returns 1 if the set exists.
 */
static int prefetch_requests(const char *label, const char *via, int fd, const struct stat *st, const struct epf_note *n, uint32_t index, const struct epf_options *o, uint32_t from, uint32_t to, struct tally *t) {
  struct devpick dp = device_for(o, fd, st);
  struct ra r = {fd, from, to, 0, {fd, (uint64_t)st->st_size, 0}, t, o->budget};
  if (!o->residency) t->look = -1;
  struct epf_plan plan;
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, dp.dev, issue, &r);
  int e = epf_note_runs(n, index, o->set, o->set_len, epf_plan_run, &plan);
  if (e == EPF_OK) epf_plan_finish(&plan);
  resident_release(&r.c);
  if (!o->debug || to) return e == EPF_OK;
  struct line l;
  l.n = 0;
  put(&l, "elfprefetch: ");
  put(&l, label);
  if (e != EPF_OK) {
    put(&l, ": no page set named ");
    put(&l, o->set);
  } else {
    put(&l, ": prefetched ");
    put_u64(&l, plan.runs);
    put(&l, " runs, ");
    put_u64(&l, t->issued_bytes);
    put(&l, " bytes in ");
    put_u64(&l, t->issued);
    put(&l, " requests (");
    put(&l, dp.dev->name);
    if (dp.why) {
      put(&l, dp.loop ? ": loop device on " : ": ");
      put(&l, dp.why);
    }
    put(&l, t->fadvise ? ", fadvise)" : ")");
    if (t->cached) {
      put(&l, ", ");
      put_u64(&l, t->cached);
      put(&l, " requests of ");
      put_u64(&l, t->cached_bytes);
      put(&l, " bytes cached already");
    }
  }
  put_via(&l, via);
  emit_line(&l);
  return e == EPF_OK;
}

/*
 * Bytes read ahead of libraries that then failed their build check (another build, not ELF):
 * once a process has wasted this much, libraries are checked before any of their pages is
 * read, so a hostile or stale note costs at most this (plus one request) per process.
 */
#define EPF_UNCHECKED_BUDGET (4u << 20)
static uint64_t unchecked_wasted;

/*
 * Opens library `index` of note n by the path the note names (absolute, checked as a file a
 * note may name). Fills obj and path (EPF_MAX_PATH + 1 bytes); returns the descriptor, or -1
 * (having said why unless `quiet`).
 */
static int open_library(const struct epf_note *n, uint32_t index, struct epf_object *obj, char *path, struct stat *st, const struct epf_options *o, int quiet) {
  if (epf_note_object(n, index, obj) != EPF_OK || obj->path_len == 0 || obj->path_len >= EPF_MAX_PATH + 1) return -1;
  memcpy(path, obj->path, obj->path_len);
  path[obj->path_len] = 0;
  if (path[0] != '/' || strlen(path) != obj->path_len) {
    if (!quiet) epf_debug(o, path, "library path is not absolute", 0);
    return -1;
  }
  int fd = o->in_root ? open_regular_in(o->root_fd, path, st) : open_regular(path, st, 1);
  if (fd < 0 && !quiet) epf_debug(o, path, o->in_root ? "cannot open the library in the process's root" : "cannot open the library", 0);
  return fd;
}

/*
 * The first request of each library goes out before any library is checked: it nearly always
 * holds the headers the check reads, so the checks then wait for those requests only, not for
 * every earlier library's whole set (under the hdd model, gdb's 60 libraries took their checks
 * one by one behind each other's sets; a start waited for nearly all of its I/O before it ran,
 * and the daemon in notify mode fell behind the program's own faults). A library of another
 * build costs that one request, and such waste is capped per process (EPF_UNCHECKED_BUDGET).
 * What the early request did is kept for the library's diagnostic line and its waste; the first
 * EPF_EARLY_LIBRARIES libraries are handled so, later ones request first and check after.
 */
#define EPF_EARLY_LIBRARIES 64

struct early {
  uint32_t bytes;  /* of the first request: issued, or left out as cached */
  uint8_t done;    /* the first request was planned (issued or left out) */
  uint8_t issued;  /* it was issued (else cached) */
  uint8_t fadvise; /* through fadvise */
  int8_t look;     /* the residency decision the first request made (struct tally) */
};

static void early_request(const struct epf_note *n, uint32_t index, const char *via, const struct epf_options *o, struct epf_seen *seen, struct early *e) {
  struct epf_object obj;
  char path[EPF_MAX_PATH + 1];
  struct stat st;
  int fd = open_library(n, index, &obj, path, &st, o, 1);
  if (fd < 0) return;
  if (!epf_seen_has(seen, st.st_dev, st.st_ino)) {
    struct tally t;
    memset(&t, 0, sizeof t);
    prefetch_requests(path, via, fd, &st, n, index, o, 0, 1, &t);
    e->done = t.issued || t.cached; /* not when the daemon's budget refused it */
    e->issued = t.issued > 0;
    e->bytes = (uint32_t)(t.issued ? t.issued_bytes : t.cached_bytes);
    e->fadvise = (uint8_t)t.fadvise;
    e->look = (int8_t)t.look;
  }
  close(fd);
}

static uint64_t early_waste(const struct early *e) { return e && e->done && e->issued ? e->bytes : 0; }

/* Object `index` (a library) of note n: open its path, check its build, prefetch its set; `e`
 * is what early_request did for it (NULL: nothing, the first request goes out here). */
static int prefetch_library(const struct epf_note *n, uint32_t index, const char *via, const struct epf_options *o, struct epf_seen *seen, const struct early *e) {
  struct epf_object obj;
  char path[EPF_MAX_PATH + 1];
  struct file f;
  f.have_st = 1;
  f.fd = open_library(n, index, &obj, path, &f.st, o, 0);
  if (f.fd < 0) return 0;
  int done = 0;
  if (epf_seen_has(seen, f.st.st_dev, f.st.st_ino)) {
    epf_debug(o, path, "prefetched already", 0);
  } else {
    uint8_t head[HEAD_BYTES];
    struct ident id;
    struct tally t;
    memset(&t, 0, sizeof t);
    uint32_t first = 0;
    if (e && e->done) {
      first = 1;
      if (e->issued) t.issued = 1, t.issued_bytes = e->bytes;
      else t.cached = 1, t.cached_bytes = e->bytes;
      t.fadvise = e->fadvise;
      t.look = e->look;
    } else if (__atomic_load_n(&unchecked_wasted, __ATOMIC_RELAXED) < EPF_UNCHECKED_BUDGET) {
      prefetch_requests(path, via, f.fd, &f.st, n, index, o, 0, 1, &t);
      first = 1;
    }
    const char *why = inspect_file(&f, head, &id, 0);
    if (!why && !same_build(&obj, &id)) why = "the library is another build than the note's";
    if (why) {
      epf_debug(o, path, why, 0);
      __atomic_add_fetch(&unchecked_wasted, t.issued_bytes, __ATOMIC_RELAXED);
    } else if ((done = prefetch_requests(path, via, f.fd, &f.st, n, index, o, first, 0, &t))) {
      seen_add(seen, &f.st);
    }
    ident_release(&id);
  }
  close(f.fd);
  return done;
}

/* ---------------------------------------------------------------- residency of a whole set (the daemon's o->skip_resident) */

struct whole {
  struct resident c;
  int missing; /* a request with an end not cached */
};

/* The rule of issue(): a request counts as cached when the pages at both its ends are. */
static void check_resident(void *ctx, uint64_t off, uint64_t len) {
  struct whole *w = ctx;
  if (!w->missing && !(page_cached(&w->c, off + len - 1) && page_cached(&w->c, off))) w->missing = 1;
}

/* Whether every request planned for object 0's set is in the page cache already. */
static int set_resident(int fd, const struct stat *st, const struct epf_note *n, const struct epf_options *o) {
  struct whole w = {{fd, (uint64_t)st->st_size, 0}, 0};
  struct epf_plan plan;
  epf_plan_init(&plan, (uint64_t)st->st_size, n->page_shift, device_for(o, fd, st).dev, check_resident, &w);
  int ok = epf_note_runs(n, 0, o->set, o->set_len, epf_plan_run, &plan) == EPF_OK;
  if (ok) epf_plan_finish(&plan);
  resident_release(&w.c);
  return ok && plan.requests > 0 && !w.missing;
}

/* A note that belongs to the file (its own, or its sidecar's: `via`): object 0 from fd, then the library sets. */
static int prefetch_note(const char *label, const char *via, int fd, const struct stat *st, const struct epf_note *n, const struct epf_options *o, struct epf_seen *seen) {
  int count = 0;
  if (o->skip_resident && set_resident(fd, st, n, o)) {
    epf_debug(o, label, "resident already", 0);
    return 0;
  }
  /* In the order a start needs them: the program's first request (its headers), every
   * library's first request, the rest of the program's set, then each library, checked. */
  int own = !epf_seen_has(seen, st->st_dev, st->st_ino);
  struct tally t;
  memset(&t, 0, sizeof t);
  int has_set = own && prefetch_requests(label, via, fd, st, n, 0, o, 0, 1, &t);
  struct early early[EPF_EARLY_LIBRARIES];
  memset(early, 0, sizeof early);
  uint32_t libs = n->object_count > 1 ? n->object_count - 1 : 0, ahead = libs < EPF_EARLY_LIBRARIES ? libs : EPF_EARLY_LIBRARIES;
  uint64_t waste = __atomic_load_n(&unchecked_wasted, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < ahead && waste < EPF_UNCHECKED_BUDGET; i++) {
    early_request(n, i + 1, via, o, seen, &early[i]);
    waste += early_waste(&early[i]);
  }
  if (!own) {
    epf_debug(o, label, "prefetched already", 0);
  } else if (has_set && prefetch_requests(label, via, fd, st, n, 0, o, 1, 0, &t)) {
    seen_add(seen, st);
    count++;
  } else if (!has_set && o->debug) {
    prefetch_requests(label, via, fd, st, n, 0, o, 0, 0, &t); /* says "no page set named ..." */
  }
  if (o->queued) o->queued(o->queued_ctx);
  for (uint32_t i = 1; i < n->object_count; i++) count += prefetch_library(n, i, via, o, seen, i - 1 < ahead ? &early[i - 1] : 0);
  return count;
}

/* ---------------------------------------------------------------- sidecar files (FORMAT.md 8) */

/* DIR/hh/rest.note: the directory, '/', 2 hex digits, '/', up to 126 more, ".note", NUL. */
#define SIDECAR_PATH_MAX (EPF_MAX_SIDECAR_DIR + 2 * EPF_MAX_BUILD_ID + 8)

struct sidecar {
  char path[SIDECAR_PATH_MAX];
  struct region r; /* the file's bytes */
  struct epf_note n;
};

/*
 * Whether the sidecar directory exists. It is stat()ed at the first lookup and remembered for
 * the process, so a system without sidecars pays one failed stat per process, not one per object
 * (a directory made while a process runs is seen by the processes started after it).
 */
static uint32_t sidecar_checked; /* FNV-1a of the directory checked (| 1), 0 for none yet */
static int sidecar_present;

static int sidecar_dir_present(const struct epf_options *o) {
  if (!o->sidecar[0]) return 0;
  uint32_t h = (uint32_t)epf_fnv1a64(EPF_FNV_OFFSET, (const uint8_t *)o->sidecar, strlen(o->sidecar)) | 1;
  if (__atomic_load_n(&sidecar_checked, __ATOMIC_ACQUIRE) != h) {
    struct stat st;
    __atomic_store_n(&sidecar_present, stat(o->sidecar, &st) == 0 && S_ISDIR(st.st_mode), __ATOMIC_RELAXED);
    __atomic_store_n(&sidecar_checked, h, __ATOMIC_RELEASE);
  }
  return __atomic_load_n(&sidecar_present, __ATOMIC_RELAXED);
}

void epf_new_process(void) { __atomic_store_n(&unchecked_wasted, 0, __ATOMIC_RELAXED); }

void epf_recheck_sidecar_dir(void) { __atomic_store_n(&sidecar_checked, 0, __ATOMIC_RELEASE); }

/* sc->path = DIR/hh/rest.note for the file's build-id; 0 when it has none of 2 to 64 bytes. */
static int sidecar_path(const struct epf_options *o, const struct ident *id, struct sidecar *sc) {
  static const char hex[] = "0123456789abcdef";
  size_t n = strlen(o->sidecar);
  if (id->bid_len < 2 || id->bid_len > EPF_MAX_BUILD_ID || n == 0 || n > EPF_MAX_SIDECAR_DIR) return 0;
  char *p = sc->path;
  memcpy(p, o->sidecar, n);
  p += n;
  *p++ = '/';
  for (uint32_t i = 0; i < id->bid_len; i++) {
    *p++ = hex[id->bid[i] >> 4];
    *p++ = hex[id->bid[i] & 15];
    if (i == 0) *p++ = '/';
  }
  memcpy(p, ".note", 6);
  return 1;
}

/* Not there at all: the ordinary case, said as "no note". */
static const char sidecar_absent[] = "";

/*
 * Reads the sidecar at sc->path into sc->r if it is one the shim may use: lstat()ed first, so a
 * symbolic link, device or FIFO is never opened; then opened without following a link and
 * checked by fstat (the file lstat saw, regular, owned by root or the effective user, not
 * writable by group or others, 24 bytes to 1 MiB). NULL on success, else why not.
 */
static const char *read_sidecar(struct sidecar *sc) {
  struct stat pre, st;
  if (lstat(sc->path, &pre) != 0) return errno == ENOENT || errno == ENOTDIR ? sidecar_absent : "cannot stat it";
  if (S_ISLNK(pre.st_mode)) return "a symbolic link";
  if (!S_ISREG(pre.st_mode)) return "not a regular file";
  int fd = open(sc->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno == ELOOP ? "a symbolic link" : errno == ENOENT ? sidecar_absent : "cannot open it";
  const char *why = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) why = "not a regular file";
  else if (st.st_dev != pre.st_dev || st.st_ino != pre.st_ino) why = "replaced while it was opened";
  else if (st.st_uid != 0 && st.st_uid != geteuid()) why = "owned by another user than root or the process's";
  else if (st.st_mode & (S_IWGRP | S_IWOTH)) why = "writable by group or others";
  else if (st.st_size < EPF_HEADER_SIZE) why = "shorter than 24 bytes";
  else if ((uint64_t)st.st_size > EPF_MAX_DESC_SIZE) why = "longer than 1 MiB";
  else {
    size_t len = (size_t)st.st_size;
    void *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      why = "no memory to read it";
    } else {
      sc->r.map = m;
      sc->r.len = len;
      if (pread_full(fd, m, len, 0) != 0) why = "cannot read it (truncated?)";
    }
  }
  close(fd);
  return why;
}

/* "LABEL: NONE; sidecar PATH ignored: WHY" */
static void sidecar_debug(const struct epf_options *o, const char *label, const char *none, const char *path, const char *why) {
  if (!o->debug) return;
  struct line l;
  l.n = 0;
  put(&l, "elfprefetch: ");
  put(&l, label);
  put(&l, ": ");
  put(&l, none);
  put(&l, "; sidecar ");
  put(&l, path);
  put(&l, " ignored: ");
  put(&l, why);
  emit_line(&l);
}

/*
 * The sidecar of a file without a note of its own (`none` says which: no note, or an empty
 * reservation). Returns 1 when sc->n is a note that belongs to the file (release sc->r
 * afterwards); else 0, having said why. For a loaded object whose layout digest was not needed
 * yet, `ph` and `phnum` are its program headers.
 */
static int find_sidecar(const char *label, const char *none, struct ident *id, const uint8_t *ph, size_t phnum, const struct epf_options *o, struct sidecar *sc) {
  sc->r.map = 0;
  sc->r.len = 0;
  if (!sidecar_path(o, id, sc) || !sidecar_dir_present(o)) {
    epf_debug(o, label, none, 0);
    return 0;
  }
  const char *why = read_sidecar(sc);
  if (why != sidecar_absent && o->watch) *o->watch = 1;
  if (!why) {
    if (!id->have_layout && ph) {
      id->layout = layout_digest(ph, phnum);
      id->have_layout = 1;
    }
    int k = id->have_layout ? check_note(&sc->n, sc->r.map, sc->r.len, id) : NOTE_CORRUPT;
    if (k == NOTE_OK) return 1;
    why = sidecar_why[k];
  }
  region_release(&sc->r);
  if (why == sidecar_absent) epf_debug(o, label, none, 0);
  else sidecar_debug(o, label, none, sc->path, why);
  return 0;
}

/* "/proc/self/exe" as a readable name in diagnostics. */
static const char *self_label(const struct epf_options *o, const char *path, char *buf, size_t cap) {
  if (!o->debug || strcmp(path, "/proc/self/exe") != 0) return path;
  ssize_t n = readlink(path, buf, cap - 1);
  if (n <= 0) return path;
  buf[n] = 0;
  return buf;
}

/*
 * An open file whose identity is in id: its own note when it has one (even stale or corrupt:
 * then nothing is done), else its sidecar.
 */
static int use_file(const char *label, struct file *f, struct ident *id, const struct epf_options *o, struct epf_seen *seen) {
  const char *none = "no note";
  if (id->note_found) {
    if (file_stat(f) != 0) {
      epf_debug(o, label, "not a regular file", 0);
      return 0;
    }
    if (epf_seen_has(seen, f->st.st_dev, f->st.st_ino)) {
      epf_debug(o, label, "prefetched already", 0);
      return 0;
    }
    struct epf_note n;
    int k = check_note(&n, id->note, id->note_len, id);
    if (k == NOTE_OK) {
      if (o->watch) *o->watch = 1;
      return prefetch_note(label, 0, f->fd, &f->st, &n, o, seen);
    }
    if (k != NOTE_EMPTY) {
      epf_debug(o, label, note_why[k], 0);
      return 0;
    }
    none = note_why[NOTE_EMPTY];
  }
  struct sidecar sc;
  if (!find_sidecar(label, none, id, 0, 0, o, &sc)) return 0;
  int count = 0;
  if (file_stat(f) != 0) epf_debug(o, label, "not a regular file", 0);
  else count = prefetch_note(label, sc.path, f->fd, &f->st, &sc.n, o, seen);
  region_release(&sc.r);
  return count;
}

/* An open file, from its note or sidecar (the caller closes it). */
static int prefetch_open(const char *label, struct file *f, const struct epf_options *o, struct epf_seen *seen) {
  uint8_t head[HEAD_BYTES];
  struct ident id;
  int count = 0;
  const char *why = inspect_file(f, head, &id, 1);
  if (why) epf_debug(o, label, why, 0);
  else count = use_file(label, f, &id, o, seen);
  ident_release(&id);
  return count;
}

/* A file by path: `loaded` files (mapped by the kernel or ld.so) are fstat()ed only if they have a note or a sidecar. */
static int prefetch_path(const char *path, const struct epf_options *o, struct epf_seen *seen, int loaded) {
  if (o->disabled || !path) return 0;
  int saved = errno, count = 0;
  char name[256];
  const char *label = self_label(o, path, name, sizeof name);
  struct file f;
  f.have_st = !loaded;
  f.fd = loaded ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) : open_regular(path, &f.st, 0);
  if (f.fd < 0) {
    epf_debug(o, label, "cannot open", 0);
    count = -1;
  } else {
    count = prefetch_open(label, &f, o, seen);
    close(f.fd);
  }
  errno = saved;
  return count;
}

int epf_prefetch_path(const char *path, const struct epf_options *o, struct epf_seen *seen) { return prefetch_path(path, o, seen, 0); }

int epf_prefetch_fd(int fd, const char *label, const struct epf_options *o, struct epf_seen *seen) {
  if (o->disabled || fd < 0) return 0;
  int saved = errno;
  struct file f;
  f.fd = fd;
  f.have_st = 0;
  int count = prefetch_open(label, &f, o, seen);
  errno = saved;
  return count;
}

int epf_prefetch_loaded(const char *path, const struct epf_options *o, struct epf_seen *seen) { return prefetch_path(path, o, seen, 1); }

int epf_prefetch_mapped(const char *path, ElfW(Addr) base, const ElfW(Phdr) *phdr, size_t phnum, const struct epf_options *o, struct epf_seen *seen) {
  if (o->disabled || !path) return 0;
  int saved = errno, count = 0;
  struct ident id;
  char name[256];
  const char *label = self_label(o, path, name, sizeof name);
  const char *why = inspect_mapped(base, phdr, phnum, &id);
  /* A note beside the segments is read from the file; so is the main program's when none is in
   * memory, since a note after its last PT_LOAD lies in the page the loader zeroed (its note names
   * the libraries: one open and pread per process is worth it). */
  if (!why && (id.note_beside || (!id.note_found && strcmp(path, "/proc/self/exe") == 0))) {
    errno = saved;
    return prefetch_path(path, o, seen, 1);
  }
  struct epf_note own;
  struct sidecar sc;
  sc.r.map = 0;
  sc.r.len = 0;
  const struct epf_note *n = 0;
  const char *via = 0;
  if (why) {
    epf_debug(o, label, why, 0);
  } else if (id.note_found) {
    int k = check_note(&own, id.note, id.note_len, &id);
    if (k == NOTE_OK) n = &own;
    else if (k != NOTE_EMPTY) epf_debug(o, label, note_why[k], 0);
    else if (find_sidecar(label, note_why[NOTE_EMPTY], &id, (const uint8_t *)phdr, phnum, o, &sc)) n = &sc.n, via = sc.path;
  } else if (find_sidecar(label, "no note", &id, (const uint8_t *)phdr, phnum, o, &sc)) {
    n = &sc.n;
    via = sc.path;
  }
  if (n) {
    struct stat st;
    int fd = open_regular(path, &st, 0);
    if (fd < 0) {
      epf_debug(o, label, "cannot open", 0);
    } else {
      count = prefetch_note(label, via, fd, &st, n, o, seen);
      close(fd);
    }
  }
  region_release(&sc.r);
  errno = saved;
  return count;
}
