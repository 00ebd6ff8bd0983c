/*
 * libelfprefetch-audit.so, for LD_AUDIT. la_version runs when ld.so loads the auditor, before
 * it maps any library: it prefetches the main program's note or sidecar (its own pages and its
 * library sets). la_objopen then prefetches each object that was not covered yet from its own
 * note or sidecar.
 * No LA_FLG_BIND* flags are returned, so ld.so does not route symbol bindings through here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epf_prefetch.h"

#define EXPORT __attribute__((visibility("default")))

static struct epf_options opts;
static struct epf_seen seen;
static int ready;

EXPORT unsigned int la_version(unsigned int version) {
  (void)version;
  int saved = errno;
  epf_options_load(&opts);
  ready = 1;
  if (!opts.disabled) {
    /* Each library of the program's note keeps its descriptor from its first request to its
     * check instead of being opened twice, as in the exec wrapper: no code of the program runs
     * yet (ld.so has loaded nothing but the auditor), and all are closed before this returns.
     * Not in la_objopen, which a dlopen in a running program calls. */
    static struct epf_held held;
    opts.held = &held;
    /* /proc/self/exe is the program the kernel mapped (the interpreter of a script, too);
     * without /proc, the name it was executed by. */
    if (epf_prefetch_loaded("/proc/self/exe", &opts, &seen) < 0) {
      const char *exe = (const char *)getauxval(AT_EXECFN);
      if (exe && exe[0]) epf_prefetch_loaded(exe, &opts, &seen);
    }
    opts.held = 0;
  }
  errno = saved;
  return LAV_CURRENT;
}

EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie) {
  (void)lmid;
  (void)cookie;
  /* The main program ("") was done in la_version; the vDSO has no file (no slash). */
  if (!ready || opts.disabled || !map || !map->l_name || !strchr(map->l_name, '/')) return 0;
  int saved = errno;
  /* An object the program's note covered (its libraries) was prefetched in la_version: one stat
   * tells it by device and inode, where looking for a note of its own opens it and reads its
   * headers. Only when the note covered something: else the stat would come on top. */
  struct stat st;
  if (seen.count && stat(map->l_name, &st) == 0 && epf_seen_has(&seen, st.st_dev, st.st_ino)) epf_debug(&opts, map->l_name, "prefetched already", 0);
  else epf_prefetch_loaded(map->l_name, &opts, &seen);
  errno = saved;
  return 0;
}
