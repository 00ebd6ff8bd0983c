/*
 * elfprefetch recorder: which pages of each loaded ELF object a process touches, by file page
 * (docs/RECORDING.md). Loaded with LD_PRELOAD (and, for the best results, also named in LD_AUDIT:
 * audit.c) into the recorded program; the environment carries it into every child (exec.c). It
 * needs nothing but glibc.
 *
 *   ELFPREFETCH_RECORD_DIR    where each process writes its raw result (rec-<pid>-<start>.txt);
 *                             without it the library does nothing at all.
 *   ELFPREFETCH_RECORD_MS     record only the first N ms of each process (0 or unset: whole run).
 *   ELFPREFETCH_RECORD_FLAGS  comma-separated switches for measurements: `nouffd` (leave
 *                             fault-around on), `nozap` (audit: keep the pages ld.so mapped
 *                             before the object was registered), `zaprtld` (audit: clear ld.so's
 *                             too), `random` (MADV_RANDOM on the objects' mappings).
 *
 * This file is the preload role's entry points. The constructor, in a normal context at start-up,
 * does everything that needs libc or ld.so (getenv, dlsym, pthread_atfork) once; what runs later
 * from the program's own calls (_exit, _Exit, exec, the fork child handler) is async-signal-safe:
 * recording.h says what that means here.
 */
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "buf.h"
#include "exec.h"
#include "maps.h"
#include "objects.h"
#include "recording.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

struct settings settings;

extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

/* The base namespace's link map (ld.so's _r_debug) lists us, the LD_AUDIT copy is elsewhere. */
static int in_base_namespace(void) {
  struct link_map *l = _r_debug.r_map;
  if (!l) return 1;
  for (; l; l = l->l_next)
    if (l->l_ld == _DYNAMIC) return 1;
  return 0;
}

/* This library's path as mapped, from maps. */
static void find_self(void) {
  struct buf maps = {0};
  struct run run;
  if (read_file("/proc/self/maps", &maps) == 0 && run_at(maps.p, (uint64_t)(uintptr_t)&find_self, &run) &&
      run.first.path_len < sizeof settings.self_path) {
    memcpy(settings.self_path, run.first.path, run.first.path_len);
    settings.self_path[run.first.path_len] = 0;
  }
  buf_free(&maps);
}

static void after_fork_child(void) {
  int saved = errno; /* untouched by raw system calls; syscall(2) elsewhere sets it */
  recording_fork_child();
  errno = saved;
}

__attribute__((constructor)) static void recorder_init(void) {
  const char *d = getenv("ELFPREFETCH_RECORD_DIR");
  if (!d || !*d || strlen(d) >= sizeof settings.dir - 64) return;
  if (!in_base_namespace()) return; /* the LD_AUDIT copy: only la_* work there */
  int saved = errno;
  struct settings *s = &settings;
  strcpy(s->dir, d);
  const char *ms = getenv("ELFPREFETCH_RECORD_MS");
  s->window_ms = ms ? parse_u64(ms) : 0;
  const char *flags = getenv("ELFPREFETCH_RECORD_FLAGS");
  s->nouffd = has_flag(flags, "nouffd");
  s->random = has_flag(flags, "random");
  s->page_size = getauxval(AT_PAGESZ);
  if (!s->page_size) return;
  find_self();
  s->want_audit = names_self(getenv("LD_AUDIT"));
  strcpy(s->env_dir, "ELFPREFETCH_RECORD_DIR="), strcat(s->env_dir, s->dir);
  if (ms && strlen(ms) < 32) strcpy(s->env_ms, "ELFPREFETCH_RECORD_MS="), strcat(s->env_ms, ms);
  if (flags && strlen(flags) < 400) strcpy(s->env_flags, "ELFPREFETCH_RECORD_FLAGS="), strcat(s->env_flags, flags);
  objects_init();
  exec_init();
  s->active = 1;
  pthread_atfork(NULL, NULL, after_fork_child);
  recording_begin(0);
  errno = saved;
}

__attribute__((destructor)) static void recorder_fini(void) {
  int saved = errno;
  recording_finish("exit");
  errno = saved;
}

EXPORT void _exit(int status) {
  recording_finish("_exit");
  r_exit_group(status);
}

EXPORT void _Exit(int status) {
  recording_finish("_exit");
  r_exit_group(status);
}
