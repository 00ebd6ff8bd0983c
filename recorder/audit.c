/*
 * The audit role (LD_AUDIT): ld.so loads this copy of the library into a link-map namespace of its
 * own before the program's libraries. la_objopen registers each object's mappings with a
 * userfaultfd (uffd.h) as soon as ld.so has mapped it, before relocation, and unmaps again the few
 * pages ld.so already touched with fault-around on. So everything from relocation on is exact,
 * dlopen'd libraries included. ld.so itself is registered but not cleared (its start-up code ran
 * before any audit module; `zaprtld` clears it too).
 *
 * Where it runs: la_version at start-up; la_objopen in whichever thread loads an object, with
 * ld.so's load lock held (so it takes no lock of its own and calls nothing that could want that
 * one: raw system calls, its own buffers). It shares no state with the preload copy.
 */
#include <link.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "buf.h"
#include "maps.h"
#include "sys.h"
#include "uffd.h"

#define EXPORT __attribute__((visibility("default")))

static int audit_uffd = -1;
static pid_t audit_pid;
static int audit_zap = 1, audit_zap_rtld;
static int audit_on;
static uint64_t audit_page_size, audit_rtld;

static void audit_ensure_uffd(void) {
  pid_t pid = r_getpid();
  if (audit_uffd >= 0 && audit_pid == pid) return;
  if (audit_uffd >= 0) r_close(audit_uffd); /* a fork child: that one belongs to the parent's mm */
  audit_uffd = uffd_open();
  audit_pid = pid;
}

EXPORT unsigned int la_version(unsigned int version) {
  const char *dir = getenv("ELFPREFETCH_RECORD_DIR");
  if (!dir || !*dir || version < 1) return 0;
  const char *flags = getenv("ELFPREFETCH_RECORD_FLAGS");
  if (has_flag(flags, "nouffd")) return 0;
  audit_zap = !has_flag(flags, "nozap");
  audit_zap_rtld = has_flag(flags, "zaprtld");
  audit_page_size = getauxval(AT_PAGESZ);
  audit_rtld = getauxval(AT_BASE);
  audit_on = audit_page_size != 0;
  audit_ensure_uffd();
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}

EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie) {
  (void)cookie;
  if (!audit_on || lmid != LM_ID_BASE || !map || !map->l_ld) return 0;
  int saved = errno;
  struct buf maps = {0};
  struct run run;
  audit_ensure_uffd();
  if (audit_uffd >= 0 && read_file("/proc/self/maps", &maps) == 0 && run_at(maps.p, (uint64_t)(uintptr_t)map->l_ld, &run)) {
    int is_rtld = run.lo <= audit_rtld && audit_rtld < run.hi;
    int pm = audit_zap && (!is_rtld || audit_zap_rtld) ? r_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0) : -1;
    const char *cur = run.text;
    struct mapping m;
    for (size_t i = 0; i < run.count && next_mapping(&cur, &m); i++) {
      r_madvise(m.start, m.end - m.start, MADV_NOHUGEPAGE);
      uffd_register(audit_uffd, m.start, m.end);
      if (pm >= 0) zap_file_pages(pm, &m, audit_page_size);
    }
    if (pm >= 0) r_close(pm);
  }
  buf_free(&maps);
  errno = saved;
  return 0;
}
