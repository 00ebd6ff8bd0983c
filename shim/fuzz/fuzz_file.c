/*
 * libFuzzer target 2: the whole-file path of the shim (the core of shim/core.mk, unchanged).
 * One file of about 460 lines on purpose: a libFuzzer target is one translation unit with its
 * wrapped system calls, its loaded-image model and its oracles, which only make sense together.
 *
 * The input is an ELF file image. It is written to a memfd and handed, as /proc/self/fd/N, to the
 * three entry points the hooks use:
 *   - epf_prefetch_path   (exec wrapper): header checks, PT_NOTE walk, build-id, layout digest,
 *     note validation, identity check, planning, library objects;
 *   - epf_prefetch_loaded (LD_AUDIT): the same with the lazy fstat;
 *   - epf_prefetch_mapped (LD_PRELOAD): the image is "loaded" first: a PROT_NONE reservation
 *     where only the file part of each readable PT_LOAD is made readable (what ld.so maps), the
 *     program headers in a malloc'd block of exactly their size; the shim must read nothing else.
 * The object file is linked with -Wl,--wrap=readahead,--wrap=posix_fadvise,--wrap=mmap,
 * --wrap=munmap, so every request is seen here and none reaches the kernel. Oracles (abort()):
 *   - every readahead/posix_fadvise request has 0 < length <= 1 MiB and ends at or before the end
 *     of the file its descriptor refers to (fstat), advice is POSIX_FADV_WILLNEED;
 *   - errno is unchanged by each call, no descriptor is left open, every mapping is released.
 * Each image runs as it is, "repaired" (so mutations get past the CRC and the build identity), and
 * for half of the inputs with its note moved to a sidecar file (FORMAT.md 8) in
 * $EPF_FUZZ_SIDECAR_DIR (else a new directory in /tmp). Which options a run uses (device class,
 * debug, set name, whether readahead fails so the posix_fadvise fallback runs) is derived from a
 * hash of the input. EPF_FUZZ_PLANT builds a planted bug (a readahead past EOF for inputs
 * starting with "PLANT") for the test that a finding fails the CI run.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../epf_note.h"
#include "../epf_prefetch.h"

/* Oracle failures go to a copy of the original stderr, which -close_fd_mask=2 does not close. */
static int report_fd = 2;

#define CHECK(c, ...)                                                   \
  do {                                                                  \
    if (!(c)) {                                                         \
      dprintf(report_fd, "%s: oracle failed: %s: ", "fuzz_file", #c);        \
      dprintf(report_fd, __VA_ARGS__);                                  \
      dprintf(report_fd, "\n");                                        \
      abort();                                                          \
    }                                                                   \
  } while (0)

/* ------------------------------------------------------------------ the wrapped calls */

static int fail_readahead;      /* make readahead fail, so the fadvise fallback runs */
static unsigned long requests;  /* requests seen in the current call */
static unsigned long total_requests, prefetching_calls, calls; /* over the run, printed at exit */
static long live_maps;          /* mmap minus munmap by the shim */
static int in_shim;             /* only count while the shim runs */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);

static void check_request(const char *what, int fd, int64_t off, int64_t len) {
  struct stat st;
  CHECK(fstat(fd, &st) == 0, "%s on fd %d, which is not open", what, fd);
  CHECK(S_ISREG(st.st_mode), "%s on fd %d, not a regular file", what, fd);
  CHECK(off >= 0 && len > 0 && len <= (int64_t)EPF_MAX_REQUEST, "%s(%d, %lld, %lld)", what, fd, (long long)off, (long long)len);
  CHECK(off < st.st_size && len <= st.st_size - off, "%s(%d, %lld, %lld) past the end of a file of %lld bytes", what, fd, (long long)off,
        (long long)len, (long long)st.st_size);
  requests++;
}

ssize_t __wrap_readahead(int fd, off64_t off, size_t len) {
  check_request("readahead", fd, off, (int64_t)len);
  if (fail_readahead) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int __wrap_posix_fadvise(int fd, off_t off, off_t len, int advice) {
  if (advice == POSIX_FADV_RANDOM) { /* epf_own_read: the whole file, before the shim's reads past the head */
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "posix_fadvise(RANDOM) on fd %d, not an open regular file", fd);
    CHECK(off == 0 && len == 0, "posix_fadvise(%d, %lld, %lld, RANDOM): not the whole file", fd, (long long)off, (long long)len);
    return 0;
  }
  check_request("posix_fadvise", fd, off, len);
  CHECK(advice == POSIX_FADV_WILLNEED, "posix_fadvise advice %d", advice);
  return 0;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  void *m = __real_mmap(addr, len, prot, flags, fd, off);
  if (in_shim && m != MAP_FAILED) live_maps++;
  return m;
}

int __wrap_munmap(void *addr, size_t len) {
  if (in_shim) live_maps--;
  return __real_munmap(addr, len);
}

/* ------------------------------------------------------------------ helpers */

static int memfd = -1;
static char memfd_path[64];

static int lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd;
}

static uint64_t hash(const uint8_t *p, size_t n) {
  uint64_t h = epf_fnv1a64(EPF_FNV_OFFSET, p, n < 256 ? n : 256);
  return epf_fnv1a64(h, (const uint8_t *)&n, sizeof n);
}

typedef int (*entry_fn)(const char *path, const struct epf_options *o, struct epf_seen *seen);

/* One call of the shim with the checks around it. */
static void around(const char *what, int before_fd, int (*call)(void *), void *arg) {
  requests = 0;
  live_maps = 0;
  errno = 4242;
  in_shim = 1;
  int r = call(arg);
  in_shim = 0;
  calls++;
  total_requests += requests;
  if (r > 0) prefetching_calls++;
  CHECK(errno == 4242, "%s changed errno to %d", what, errno);
  CHECK(live_maps == 0, "%s left %ld mappings", what, live_maps);
  int after = lowest_free_fd();
  CHECK(after == before_fd, "%s left a descriptor open (lowest free fd %d, was %d)", what, after, before_fd);
  CHECK(r >= -1 && r <= EPF_MAX_OBJECTS, "%s returned %d", what, r);
}

struct path_call {
  entry_fn fn;
  const struct epf_options *o;
  struct epf_seen *seen;
};

static int do_path(void *arg) {
  struct path_call *c = arg;
  return c->fn(memfd_path, c->o, c->seen);
}

/* ------------------------------------------------------------------ "loading" the image */

struct mapped_call {
  ElfW(Addr) base;
  const ElfW(Phdr) *phdr;
  size_t phnum;
  const struct epf_options *o;
  struct epf_seen *seen;
};

static int do_mapped(void *arg) {
  struct mapped_call *c = arg;
  return epf_prefetch_mapped(memfd_path, c->base, c->phdr, c->phnum, c->o, c->seen);
}

#define PAGE 4096ull
#define MAX_SPAN (64ull << 20)

static void run_mapped(const uint8_t *img, size_t size, const struct epf_options *o, int before_fd) {
  ElfW(Ehdr) eh;
  if (size < sizeof eh) return;
  memcpy(&eh, img, sizeof eh);
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phoff > size ||
      (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)) > size - eh.e_phoff)
    return;
  size_t phnum = eh.e_phnum, phbytes = phnum * sizeof(ElfW(Phdr));
  ElfW(Phdr) *ph = malloc(phbytes);
  if (!ph) return;
  memcpy(ph, img + eh.e_phoff, phbytes);
  /* The span of the PT_LOADs; give up (as ld.so would) on loads outside the file. */
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &ph[i];
    if (p->p_type != PT_LOAD) continue;
    if (p->p_offset > size || p->p_filesz > size - p->p_offset || p->p_filesz > p->p_memsz || p->p_vaddr > UINT64_MAX - p->p_memsz - PAGE) {
      free(ph);
      return;
    }
    uint64_t a = p->p_vaddr & ~(PAGE - 1), b = (p->p_vaddr + p->p_memsz + PAGE - 1) & ~(PAGE - 1);
    if (a < lo) lo = a;
    if (b > hi) hi = b;
  }
  if (lo >= hi || hi - lo > MAX_SPAN) {
    free(ph);
    return;
  }
  uint8_t *region = __real_mmap(0, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED) {
    free(ph);
    return;
  }
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &ph[i];
    if (p->p_type != PT_LOAD || !(p->p_flags & PF_R) || p->p_filesz == 0) continue;
    uint64_t a = p->p_vaddr & ~(PAGE - 1), b = (p->p_vaddr + p->p_filesz + PAGE - 1) & ~(PAGE - 1);
    CHECK(mprotect(region + (a - lo), b - a, PROT_READ | PROT_WRITE) == 0, "mprotect");
    memcpy(region + (p->p_vaddr - lo), img + p->p_offset, p->p_filesz);
  }
  for (size_t i = 0; i < phnum; i++) {
    const ElfW(Phdr) *p = &ph[i];
    if (p->p_type != PT_LOAD || !(p->p_flags & PF_R) || p->p_filesz == 0) continue;
    uint64_t a = p->p_vaddr & ~(PAGE - 1), b = (p->p_vaddr + p->p_filesz + PAGE - 1) & ~(PAGE - 1);
    mprotect(region + (a - lo), b - a, PROT_READ);
  }
  struct epf_seen seen;
  memset(&seen, 0, sizeof seen);
  struct mapped_call c = {(ElfW(Addr))region - (ElfW(Addr))lo, ph, phnum, o, &seen};
  around("epf_prefetch_mapped", before_fd, do_mapped, &c);
  __real_munmap(region, hi - lo);
  free(ph);
}

/* ------------------------------------------------------------------ getting past the identity */

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Mutations almost always break the checksum or the build identity, and the shim stops there. So
 * each image also runs "repaired": in its first elfprefetch note, object 0 gets the layout digest
 * of the (mutated) program headers and the file's build-id when the lengths agree, and the CRC is
 * recomputed. The search here is independent of the shim's and only as careful as it must be to
 * stay inside the image. Returns 1 if it changed anything.
 */
/* The first GNU build-id and the first elfprefetch descriptor of the image's PT_NOTEs; the number of PT_LOADs. */
struct found {
  const uint8_t *bid;
  uint32_t bid_len;
  uint8_t *desc;
  uint32_t descsz;
  uint32_t loads;
  ElfW(Ehdr) eh;
};

static int find_notes(uint8_t *img, size_t size, struct found *f) {
  memset(f, 0, sizeof *f);
  if (size < sizeof f->eh) return 0;
  memcpy(&f->eh, img, sizeof f->eh);
  ElfW(Ehdr) eh = f->eh;
  if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)) > size - eh.e_phoff) return 0;
  for (size_t i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, img + eh.e_phoff + i * sizeof p, sizeof p);
    if (p.p_type == PT_LOAD) f->loads++;
    if (p.p_type != PT_NOTE || p.p_offset > size || p.p_filesz > size - p.p_offset) continue;
    uint64_t align = p.p_align == 8 ? 8 : 4, at = 0, len = p.p_filesz;
    uint8_t *s = img + p.p_offset;
    while (len - at >= 12) {
      uint32_t namesz = rd32(s + at), dsz = rd32(s + at + 4), type = rd32(s + at + 8);
      uint64_t d = (at + 12 + namesz + align - 1) & ~(align - 1);
      if (namesz > len || d > len || dsz > len - d) break;
      if (!f->bid && type == 3 && namesz == 4 && memcmp(s + at + 12, "GNU", 4) == 0) f->bid = s + d, f->bid_len = dsz;
      if (!f->desc && type == 1 && namesz == 12 && memcmp(s + at + 12, "elfprefetch", 12) == 0) f->desc = s + d, f->descsz = dsz;
      at = (d + dsz + align - 1) & ~(align - 1);
    }
  }
  /* docs/FORMAT.md 1.1: no note in a PT_NOTE, look beside the first and the last PT_LOAD. */
  for (int k = 0; k < 2 && !f->desc; k++) {
    ElfW(Phdr) p;
    int seen = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
      ElfW(Phdr) q;
      memcpy(&q, img + eh.e_phoff + i * sizeof q, sizeof q);
      if (q.p_type != PT_LOAD) continue;
      if (!seen++ || k == 1) p = q;
      if (k == 0) break;
    }
    if (!seen || p.p_offset > size || p.p_filesz > size - p.p_offset) continue;
    uint64_t at = (p.p_offset + p.p_filesz + 3) & ~(uint64_t)3;
    if (at > size || size - at < 24) continue;
    uint8_t *h = img + at;
    uint32_t dsz = rd32(h + 4);
    if (rd32(h) == 12 && rd32(h + 8) == 1 && memcmp(h + 12, "elfprefetch", 12) == 0 && dsz <= size - at - 24) f->desc = h + 24, f->descsz = dsz;
  }
  return 1;
}

static int repair(uint8_t *img, size_t size) {
  struct found f;
  if (!find_notes(img, size, &f)) return 0;
  ElfW(Ehdr) eh = f.eh;
  const uint8_t *bid = f.bid;
  uint32_t bid_len = f.bid_len, descsz = f.descsz, loads = f.loads;
  uint8_t *desc = f.desc;
  if (!desc || descsz < 24) return 0;
  uint8_t b[48];
  memset(b, 0, sizeof b);
  wr32(b, loads);
  uint64_t layout = epf_fnv1a64(EPF_FNV_OFFSET, b, 8);
  for (size_t i = 0; i < eh.e_phnum; i++) {
    ElfW(Phdr) p;
    memcpy(&p, img + eh.e_phoff + i * sizeof p, sizeof p);
    if (p.p_type != PT_LOAD) continue;
    wr64(b, p.p_offset), wr64(b + 8, p.p_vaddr), wr64(b + 16, p.p_filesz), wr64(b + 24, p.p_memsz), wr64(b + 32, p.p_align);
    wr64(b + 40, p.p_flags);
    layout = epf_fnv1a64(layout, b, 48);
  }
  uint32_t used = rd32(desc + 4), header_size = desc[2] | desc[3] << 8;
  if (used < 24 || used > descsz) return 0;
  for (uint32_t at = header_size; at < used && used - at >= 8;) {
    uint32_t kind = desc[at] | desc[at + 1] << 8, object = desc[at + 2] | desc[at + 3] << 8, rsize = rd32(desc + at + 4);
    uint32_t body = at + 8;
    if (rsize > used - body) break;
    if (kind == EPF_REC_OBJECT && object == 0 && rsize >= EPF_OBJECT_FIXED_SIZE) {
      wr64(desc + body, layout);
      if (bid && desc[body + 40] == bid_len && bid_len <= EPF_MAX_BUILD_ID && 44 + bid_len <= rsize) memmove(desc + body + 44, bid, bid_len);
      break;
    }
    at = body + ((rsize + 3) & ~3u);
  }
  memset(desc + 8, 0, 4);
  wr32(desc + 8, epf_crc32(desc, used));
  return 1;
}

/* ------------------------------------------------------------------ sidecar files (FORMAT.md 8) */

/*
 * The sidecar mode: the image's (repaired) descriptor becomes the sidecar file of its build-id in
 * a private directory, and the image's own note an empty reservation, so the shim takes the
 * sidecar path (lstat, open, fstat checks, reading, validation). Compiled only when the shim has
 * sidecars (EPF_MAX_SIDECAR_DIR in epf_prefetch.h).
 */
static char sidecar_dir[1024]; /* the shim takes directories of up to 1024 bytes */
static char sidecar_file[sizeof sidecar_dir + 2 * EPF_MAX_BUILD_ID + 8];
static char sidecar_sub[sizeof sidecar_dir + 4];

static void sidecar_remove(void) {
  if (sidecar_file[0]) unlink(sidecar_file), sidecar_file[0] = 0;
  if (sidecar_sub[0]) rmdir(sidecar_sub), sidecar_sub[0] = 0;
}

static void sidecar_cleanup(void) {
  sidecar_remove();
  if (sidecar_dir[0]) rmdir(sidecar_dir);
}

/* Writes the sidecar for `img` and empties its note; 0 when the image has no build-id of 2 to 64 bytes or no note. */
static int make_sidecar(uint8_t *img, size_t size) {
  struct found f;
  if (!sidecar_dir[0] || !find_notes(img, size, &f) || !f.desc || f.descsz < 24 || !f.bid || f.bid_len < 2 || f.bid_len > EPF_MAX_BUILD_ID) return 0;
  static const char hex[] = "0123456789abcdef";
  int n = snprintf(sidecar_sub, sizeof sidecar_sub, "%s/%c%c", sidecar_dir, hex[f.bid[0] >> 4], hex[f.bid[0] & 15]);
  memcpy(sidecar_file, sidecar_sub, (size_t)n);
  char *p = sidecar_file + n;
  *p++ = '/';
  for (uint32_t i = 1; i < f.bid_len; i++) *p++ = hex[f.bid[i] >> 4], *p++ = hex[f.bid[i] & 15];
  memcpy(p, ".note", 6);
  mkdir(sidecar_sub, 0755);
  int fd = open(sidecar_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  int ok = write(fd, f.desc, f.descsz) == (ssize_t)f.descsz;
  close(fd);
  /* The in-file note becomes an empty reservation (FORMAT.md 5), which defers to the sidecar. */
  memset(f.desc, 0, f.descsz);
  f.desc[0] = 1, f.desc[2] = 24, f.desc[4] = 24, f.desc[12] = 12, f.desc[13] = EPF_FLAG_EMPTY;
  wr32(f.desc + 8, epf_crc32(f.desc, 24));
  return ok;
}

/* ------------------------------------------------------------------ the target */

static void stats(void) {
  dprintf(report_fd, "fuzz_file: stats: %lu shim calls, %lu prefetched, %lu requests checked\n", calls, prefetching_calls, total_requests);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  atexit(stats);
  report_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (report_fd < 0) report_fd = 2;
  /* The sidecar directory: $EPF_FUZZ_SIDECAR_DIR (created; the CI test puts it in its own
   * folder, so a run that aborts leaves nothing behind), else a new one in /tmp. */
  const char *dir = getenv("EPF_FUZZ_SIDECAR_DIR");
  if (dir && dir[0] == '/' && strlen(dir) < sizeof sidecar_dir - 1) {
    strcpy(sidecar_dir, dir);
    if (mkdir(sidecar_dir, 0700) != 0 && errno != EEXIST) sidecar_dir[0] = 0;
  } else {
    strcpy(sidecar_dir, "/tmp/epf-fuzz-sidecar-XXXXXX");
    if (!mkdtemp(sidecar_dir)) sidecar_dir[0] = 0;
  }
  atexit(sidecar_cleanup);
  memfd = memfd_create("epf-fuzz", MFD_CLOEXEC);
  if (memfd < 0) {
    perror("memfd_create");
    abort();
  }
  snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
  return 0;
}

static void one(uint8_t *img, size_t size, int sidecar);

/*
 * Each image runs as it is, then repaired (if that changes it), then - for half of the inputs,
 * when the shim has sidecars - with its repaired note moved to a sidecar file.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *img = malloc(size ? size : 1);
  if (!img) return 0;
  memcpy(img, data, size);
  one(img, size, 0);
  if (repair(img, size) && memcmp(img, data, size) != 0) one(img, size, 0);
#ifdef EPF_MAX_SIDECAR_DIR
  if (hash(data, size) >> 20 & 1 && make_sidecar(img, size)) one(img, size, 1);
  sidecar_remove();
#endif
  free(img);
  return 0;
}

/* The three entry points on one image (with the sidecar directory set when `sidecar`). */
static void one(uint8_t *img, size_t size, int sidecar) {
#ifdef EPF_FUZZ_PLANT
  /* A planted bug: a request past the end of the file for images starting with "PLANT". */
  if (size >= 5 && memcmp(img, "PLANT", 5) == 0) __wrap_readahead(memfd, (off64_t)size, 4096);
#endif
  if (ftruncate(memfd, 0) != 0 || (size && pwrite(memfd, img, size, 0) != (ssize_t)size)) abort();
  uint64_t h = hash(img, size);
  static const char *const devices[] = {0, "hdd", "ssd", "nvme", "net"};
  struct epf_options o;
  memset(&o, 0, sizeof o);
  memcpy(o.set, "default", 8);
  o.set_len = 7;
  o.device = epf_device_by_name(devices[h % 5]);
  o.debug = (h >> 8) % 16 == 0; /* diagnostics sometimes (their formatting is code too) */
  if ((h >> 12) % 8 == 0) {
    memcpy(o.set, "startup", 8);
    o.set_len = 7;
  }
  fail_readahead = (h >> 16) % 4 == 0;
  o.residency = (h >> 20) % 2 == 0; /* the residency check (a memfd is all cached: requests left out) */
  static struct epf_held held;
  if ((h >> 24) % 2 == 0) o.held = &held; /* the daemon's way: library descriptors kept to their check */
#ifdef EPF_MAX_SIDECAR_DIR
  if (sidecar) snprintf(o.sidecar, sizeof o.sidecar, "%s", sidecar_dir);
#else
  (void)sidecar;
#endif
  int before_fd = lowest_free_fd();

  struct epf_seen seen;
  memset(&seen, 0, sizeof seen);
  struct path_call pc = {epf_prefetch_path, &o, &seen};
  around("epf_prefetch_path", before_fd, do_path, &pc);
  memset(&seen, 0, sizeof seen);
  pc.fn = epf_prefetch_loaded;
  around("epf_prefetch_loaded", before_fd, do_path, &pc);
  run_mapped(img, size, &o, before_fd);
}
