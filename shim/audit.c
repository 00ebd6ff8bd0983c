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
    /* /proc/self/exe is the program the kernel mapped (the interpreter of a script, too);
     * without /proc, the name it was executed by. */
    if (epf_prefetch_loaded("/proc/self/exe", &opts, &seen) < 0) {
      const char *exe = (const char *)getauxval(AT_EXECFN);
      if (exe && exe[0]) epf_prefetch_loaded(exe, &opts, &seen);
    }
  }
  errno = saved;
  return LAV_CURRENT;
}

EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie) {
  (void)lmid;
  (void)cookie;
  /* The main program ("") was done in la_version; the vDSO has no file (no slash). */
  if (ready && !opts.disabled && map && map->l_name && strchr(map->l_name, '/')) epf_prefetch_loaded(map->l_name, &opts, &seen);
  return 0;
}
