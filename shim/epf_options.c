/* What the environment asks for (epf_options_load) and the diagnostic lines (epf_line.h, epf_debug). */
#define _GNU_SOURCE
#include "epf_prefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "epf_line.h"
#include "epf_note.h"

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

void epf_put(struct epf_line *l, const char *s) {
  while (*s && l->n < sizeof l->b - 2) l->b[l->n++] = *s++;
}

void epf_put_u64(struct epf_line *l, uint64_t v) {
  char t[24];
  int i = 0;
  do t[i++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (i > 0 && l->n < sizeof l->b - 2) l->b[l->n++] = t[--i];
}

void epf_line_emit(struct epf_line *l) {
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
  struct epf_line l;
  l.n = 0;
  epf_put(&l, "elfprefetch: ");
  epf_put(&l, file ? file : "?");
  epf_put(&l, ": ");
  epf_put(&l, a);
  if (b) epf_put(&l, b);
  epf_line_emit(&l);
}
