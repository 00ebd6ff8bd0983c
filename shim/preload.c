/*
 * libelfprefetch-preload.so, for LD_PRELOAD, /etc/ld.so.preload or linking in: a constructor
 * walks the loaded objects (dl_iterate_phdr) and prefetches each object's own note, read from
 * memory where its PT_NOTE is mapped, or, without one, its sidecar (found by the build-id read
 * from memory the same way); the main program's note also names its library sets.
 * It runs after ld.so mapped and relocated everything, so it gains least of the three forms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <string.h>

#include "epf_prefetch.h"

static struct epf_options opts;
static struct epf_seen seen;

static int each_object(struct dl_phdr_info *info, size_t size, void *data) {
  int *index = data;
  if (size < offsetof(struct dl_phdr_info, dlpi_phnum) + sizeof info->dlpi_phnum) return 1;
  const char *name = info->dlpi_name;
  if ((*index)++ == 0) name = "/proc/self/exe"; /* the main program comes first */
  else if (!name || !strchr(name, '/')) return 0; /* the vDSO has no file */
  epf_prefetch_mapped(name, info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum, &opts, &seen);
  return 0;
}

__attribute__((constructor)) static void elfprefetch_preload(void) {
  static int busy;
  if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQ_REL)) return;
  int saved = errno;
  epf_options_load(&opts);
  if (!opts.disabled) {
    int index = 0;
    dl_iterate_phdr(each_object, &index);
  }
  errno = saved;
}
