/*
 * One process image's recording: which file pages of its objects are mapped (pagemap bit 63) at
 * the end, split into those already mapped when it began ("pre") and those mapped since ("post").
 * Safe in a signal handler, a fork child and the window thread: see recording.h.
 */
#include <string.h>

#include "buf.h"
#include "maps.h"
#include "objects.h"
#include "recording.h"
#include "sys.h"
#include "uffd.h"

/*
 * The state, one atomic int: IDLE (not recording: before recording_begin is done, or after a fork
 * until the child's is), RECORDING, WRITTEN, or OWNED + tid while thread tid writes the result.
 * Keeping the owner in the same word lets a signal handler that interrupted its own thread's
 * snapshot see that at once, and write the result itself instead of waiting for a snapshot that
 * will never resume.
 */
enum { IDLE = 0, RECORDING = 1, WRITTEN = 2, OWNED = 16 };
static int state;
static pid_t my_pid;      /* the process this recording belongs to */
static pid_t fork_parent; /* the parent it was forked from, 0 after exec */
static uint64_t start_ns; /* CLOCK_MONOTONIC at the start of the recording */
static int uffd = -1;
static unsigned uffd_ok, uffd_busy, uffd_failed;
static struct buf pre;    /* sorted virtual page numbers present when recording started */
static unsigned tmp_seq;  /* a temporary file of its own for each write */

static uint64_t self_addr(void) { return (uint64_t)(uintptr_t)&recording_begin; }

static int pre_contains(uint64_t vpn) {
  const uint64_t *v = (const uint64_t *)pre.p;
  size_t lo = 0, hi = pre.len / 8;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid] < vpn) lo = mid + 1;
    else if (v[mid] > vpn) hi = mid;
    else return 1;
  }
  return 0;
}

/* Appends `a-b,c` runs of file pages to out. */
struct pages {
  struct buf *out;
  uint64_t first, last;
  int open, any;
};

static void pages_flush(struct pages *r) {
  if (!r->open) return;
  if (r->any) buf_str(r->out, ",");
  buf_u64(r->out, r->first);
  if (r->last != r->first) buf_str(r->out, "-"), buf_u64(r->out, r->last);
  r->any = 1;
  r->open = 0;
}

static void pages_add(struct pages *r, uint64_t page) {
  if (r->open && page == r->last + 1) {
    r->last = page;
    return;
  }
  pages_flush(r);
  r->first = r->last = page;
  r->open = 1;
}

static void map_line(struct buf *out, const struct mapping *m) {
  buf_str(out, "map ");
  buf_hex(out, m->start), buf_str(out, "-"), buf_hex(out, m->end), buf_str(out, " ");
  buf_str(out, m->perms), buf_str(out, " ");
  buf_hex(out, m->pgoff), buf_str(out, " ");
  buf_u64(out, m->dev_major), buf_str(out, ":"), buf_u64(out, m->dev_minor), buf_str(out, " ");
  buf_u64(out, m->ino), buf_str(out, " ");
  buf_add(out, m->path, m->path_len), buf_str(out, "\n");
}

/*
 * Walks every file mapping of the base namespace's objects and reports present pages: with
 * out == NULL, collects their virtual page numbers into `pre`; otherwise appends `map`, `pre`
 * and `post` lines (file pages) to out.
 */
static int walk_present(struct buf *out) {
  struct buf maps = {0}, objects = {0}, pre_line = {0}, post_line = {0};
  const uint64_t ps = settings.page_size;
  const size_t chunk = 4096;
  int pm = -1, rc = -1;
  uint64_t *entries = NULL;
  if (read_file("/proc/self/maps", &maps) || object_ranges(maps.p, self_addr(), &objects)) goto done;
  pm = r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
  if (pm < 0) goto done;
  entries = r_mmap(chunk * 8);
  if (entries == MAP_FAILED) {
    entries = NULL;
    goto done;
  }
  const char *cur = maps.p;
  struct mapping m;
  while (next_mapping(&cur, &m)) {
    if (!is_file_mapping(&m)) continue;
    uint64_t a, b, from = m.start;
    int present = 0;
    struct pages rp = {&pre_line, 0, 0, 0, 0}, rq = {&post_line, 0, 0, 0, 0};
    pre_line.len = post_line.len = 0;
    while (object_overlap(&objects, m.start, m.end, &a, &b, from)) {
      for (uint64_t at = a; at < b;) {
        uint64_t n = (b - at) / ps;
        if (n > chunk) n = chunk;
        if (r_pread(pm, entries, n * 8, at / ps * 8) != (long)(n * 8)) break;
        for (uint64_t i = 0; i < n; i++) {
          if (!(entries[i] & PM_PRESENT)) continue;
          uint64_t vpn = at / ps + i;
          if (!out) {
            buf_add(&pre, &vpn, 8);
            continue;
          }
          uint64_t page = m.pgoff / ps + (at - m.start) / ps + i;
          pages_add(pre_contains(vpn) ? &rp : &rq, page);
          present = 1;
        }
        at += n * ps;
      }
      from = b;
    }
    if (out && present) {
      pages_flush(&rp);
      pages_flush(&rq);
      map_line(out, &m);
      buf_str(out, "pre "), buf_add(out, pre_line.p, pre_line.len), buf_str(out, "\n");
      buf_str(out, "post "), buf_add(out, post_line.p, post_line.len), buf_str(out, "\n");
    }
  }
  rc = 0;
done:
  if (entries) r_munmap(entries, chunk * 8);
  if (pm >= 0) r_close(pm);
  buf_free(&pre_line);
  buf_free(&post_line);
  buf_free(&maps);
  buf_free(&objects);
  return rc;
}

/*
 * Registers every object mapping not registered yet with our userfaultfd. With `zap` (a fork
 * child, whose registrations were not inherited), also unmaps the unwritten file pages that
 * were mapped when it forked or by fault-around since, so what the child touches from now on
 * shows exactly; the parent's own result has the pages of the code that forked.
 */
static void register_all(int zap) {
  struct buf maps = {0}, objects = {0};
  if (read_file("/proc/self/maps", &maps) || object_ranges(maps.p, self_addr(), &objects)) goto done;
  int pm = zap && uffd >= 0 ? r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0) : -1;
  const char *cur = maps.p;
  struct mapping m;
  while (next_mapping(&cur, &m)) {
    uint64_t a, b;
    if (!is_file_mapping(&m) || !object_overlap(&objects, m.start, m.end, &a, &b, m.start)) continue;
    if (settings.random) r_madvise(m.start, m.end - m.start, MADV_RANDOM);
    if (uffd < 0) continue;
    r_madvise(m.start, m.end - m.start, MADV_NOHUGEPAGE);
    int rc = uffd_register(uffd, m.start, m.end);
    if (rc == 0) uffd_ok++;
    else if (rc == 1) uffd_busy++;
    else uffd_failed++;
    if (rc == 0 && pm >= 0) zap_file_pages(pm, &m, settings.page_size);
  }
  if (pm >= 0) r_close(pm);
done:
  buf_free(&maps);
  buf_free(&objects);
}

/* Writes the whole text to a new file; 0 when all of it got there. */
static int write_all(const char *path, const struct buf *text) {
  int fd = r_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < text->len) {
    long w = r_write(fd, text->p + off, text->len - off);
    if (w == -EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  r_close(fd);
  return off == text->len ? 0 : -1;
}

/* Everything lives in mappings, not on the stack: a signal handler may run on a small sigaltstack. */
static void write_result(const char *reason) {
  struct buf out = {0}, exe = {0}, path = {0}, tmp = {0};
  uint64_t snap = now_ns();
  if (buf_reserve(&exe, 4096) == 0) {
    long n = r_readlink("/proc/self/exe", exe.p, exe.cap - 1);
    exe.len = n > 0 ? (size_t)n : 0;
  }
  buf_add(&exe, "", 1);
  buf_str(&out, "elfprefetch-record 1\npid "), buf_u64(&out, (uint64_t)my_pid);
  buf_str(&out, "\nppid "), buf_u64(&out, (uint64_t)r_getppid());
  buf_str(&out, "\nforked "), buf_u64(&out, (uint64_t)fork_parent);
  buf_str(&out, "\nexe "), buf_str(&out, exe.p ? exe.p : "");
  buf_str(&out, "\nstart_ns "), buf_u64(&out, start_ns);
  buf_str(&out, "\nsnap_ns "), buf_u64(&out, snap);
  buf_str(&out, "\nwindow_ms "), buf_u64(&out, settings.window_ms);
  buf_str(&out, "\nreason "), buf_str(&out, reason);
  buf_str(&out, "\npagesize "), buf_u64(&out, settings.page_size);
  buf_str(&out, "\nuffd "), buf_str(&out, uffd >= 0 ? "yes" : "no");
  buf_str(&out, " registered "), buf_u64(&out, uffd_ok);
  buf_str(&out, " by-audit "), buf_u64(&out, uffd_busy);
  buf_str(&out, " failed "), buf_u64(&out, uffd_failed);
  buf_str(&out, "\n");
  if (walk_present(&out) == 0) buf_str(&out, "end\n"); /* without it the result reads as cut short */
  buf_str(&path, settings.dir), buf_str(&path, "/rec-"), buf_u64(&path, (uint64_t)my_pid);
  buf_str(&path, "-"), buf_u64(&path, start_ns), buf_str(&path, ".txt");
  buf_add(&tmp, path.p, path.len), buf_str(&tmp, "."), buf_u64(&tmp, __atomic_add_fetch(&tmp_seq, 1, __ATOMIC_SEQ_CST));
  buf_str(&tmp, ".tmp"), buf_add(&tmp, "", 1);
  if (buf_add(&path, "", 1) == 0 && tmp.p && out.p) {
    if (write_all(tmp.p, &out) == 0) r_rename(tmp.p, path.p);
    else r_unlink(tmp.p);
  }
  buf_free(&out);
  buf_free(&exe);
  buf_free(&path);
  buf_free(&tmp);
}

int recording_finish(const char *reason) {
  int s = __atomic_load_n(&state, __ATOMIC_SEQ_CST);
  if (s == IDLE || r_getpid() != my_pid) return 0; /* not recording, or a vfork child: its parent records that memory */
  pid_t tid = r_gettid();
  int expect = RECORDING;
  if (__atomic_compare_exchange_n(&state, &expect, OWNED + tid, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    write_result(reason);
    __atomic_store_n(&state, WRITTEN, __ATOMIC_SEQ_CST);
    return 1;
  }
  if (expect == OWNED + tid) { /* a signal handler on the thread that was writing: that write may never resume */
    write_result(reason);
    return 0;
  }
  /* another thread is writing: wait for it (bounded), so ending the process does not cut it short */
  for (int i = 0; i < 3000 && __atomic_load_n(&state, __ATOMIC_SEQ_CST) >= OWNED; i++) {
    struct timespec ts = {0, 1000000};
    r_sleep(&ts);
  }
  return 0;
}

void recording_resume(void) {
  int expect = WRITTEN;
  if (r_getpid() == my_pid) __atomic_compare_exchange_n(&state, &expect, RECORDING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void recording_begin(int forked) {
  __atomic_store_n(&state, IDLE, __ATOMIC_SEQ_CST);
  my_pid = r_getpid();
  start_ns = now_ns();
  pre.len = 0;
  uffd_ok = uffd_busy = uffd_failed = 0;
  if (!forked) walk_present(NULL);
  if (!settings.nouffd) uffd = uffd_open();
  register_all(forked);
  if (forked) walk_present(NULL);
  __atomic_store_n(&state, RECORDING, __ATOMIC_SEQ_CST);
  if (settings.window_ms) window_start(start_ns + settings.window_ms * 1000000ULL, forked);
}

void recording_fork_child(void) {
  if (!settings.active) return;
  __atomic_store_n(&state, IDLE, __ATOMIC_SEQ_CST);
  if (uffd >= 0) r_close(uffd); /* the parent's: its registrations are on the parent's memory */
  uffd = -1;
  fork_parent = my_pid;
  recording_begin(1);
}
