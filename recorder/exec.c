/*
 * exec and posix_spawn: write the result before the image goes, and keep the recorder in the
 * environment the new program gets (env -i, node's child_process with `env`).
 *
 * Where they run: anywhere the program calls them, including signal handlers (execve is
 * async-signal-safe) and vfork children (vfork + execvp is the classic way to start a program).
 * So: recording_finish (safe there, recording.h); the environment is built on the stack (exactly
 * the size it needs), in a mapping only when it is large, since a mapping made in a vfork child
 * stays in its parent after the exec; and the libc functions we call on (execvpe, posix_spawn,
 * posix_spawnp) are looked up by exec_init in the constructor, never here: dlsym takes ld.so's
 * lock, which another thread of the parent may hold.
 */
#include <dlfcn.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "exec.h"
#include "recording.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))
#define ENV_ON_STACK 16384

extern char **environ;

typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]);
static execvpe_fn real_execvpe;
static spawn_fn real_posix_spawn, real_posix_spawnp;

void exec_init(void) {
  real_execvpe = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
  real_posix_spawn = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
  real_posix_spawnp = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
}

/* Whether a colon- or space-separated list names this library. */
int names_self(const char *list) {
  size_t n = strlen(settings.self_path);
  for (const char *s = list; s && *s;) {
    while (*s == ':' || *s == ' ') s++;
    const char *e = s;
    while (*e && *e != ':' && *e != ' ') e++;
    if ((size_t)(e - s) == n && memcmp(s, settings.self_path, n) == 0) return 1;
    s = e;
  }
  return 0;
}

/* "NAME=" entry of envp, or NULL. */
static const char *env_find(char *const envp[], const char *name, size_t n) {
  for (size_t i = 0; envp && envp[i]; i++)
    if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=') return envp[i] + n + 1;
  return NULL;
}

/* What the program's environment lacks of ours. */
struct env_plan {
  const char *pre_v, *aud_v;
  int pre, aud, dir, ms, flags;
  size_t count, size; /* entries in envp; bytes the fixed copy needs (0: envp is fine) */
};

static struct env_plan env_plan(char *const envp[]) {
  struct env_plan p = {0};
  if (!settings.active) return p;
  p.pre_v = env_find(envp, "LD_PRELOAD", 10), p.aud_v = env_find(envp, "LD_AUDIT", 8);
  p.pre = !names_self(p.pre_v), p.aud = settings.want_audit && !names_self(p.aud_v);
  p.dir = !env_find(envp, "ELFPREFETCH_RECORD_DIR", 22);
  p.ms = settings.env_ms[0] && !env_find(envp, "ELFPREFETCH_RECORD_MS", 21);
  p.flags = settings.env_flags[0] && !env_find(envp, "ELFPREFETCH_RECORD_FLAGS", 24);
  if (!p.pre && !p.aud && !p.dir && !p.ms && !p.flags) return p;
  while (envp && envp[p.count]) p.count++;
  size_t self = strlen(settings.self_path), strings = 0;
  if (p.pre) strings += 12 + self + 1 + (p.pre_v ? strlen(p.pre_v) : 0);
  if (p.aud) strings += 10 + self + 1 + (p.aud_v ? strlen(p.aud_v) : 0);
  if (p.dir) strings += strlen(settings.env_dir) + 1;
  if (p.ms) strings += strlen(settings.env_ms) + 1;
  if (p.flags) strings += strlen(settings.env_flags) + 1;
  p.size = (p.count + 6) * sizeof(char *) + strings;
  return p;
}

static char *put(char *at, const char *s) {
  size_t n = strlen(s);
  memcpy(at, s, n);
  return at + n;
}

/* name=self[:old], NUL-terminated, at `at`; returns the end. */
static char *put_list(char *at, const char *name, const char *old) {
  at = put(put(at, name), settings.self_path);
  if (old && *old) at = put(put(at, ":"), old);
  *at++ = 0;
  return at;
}

/* envp with our variables added, built in room (the plan's size, pointer-aligned) */
static char **env_build(char *const envp[], const struct env_plan *p, char *room) {
  char **out = (char **)room, *s = room + (p->count + 6) * sizeof(char *);
  size_t j = 0;
  for (size_t i = 0; i < p->count; i++) {
    if ((p->pre && strncmp(envp[i], "LD_PRELOAD=", 11) == 0) || (p->aud && strncmp(envp[i], "LD_AUDIT=", 9) == 0)) continue;
    out[j++] = envp[i];
  }
  if (p->pre) out[j++] = s, s = put_list(s, "LD_PRELOAD=", p->pre_v);
  if (p->aud) out[j++] = s, s = put_list(s, "LD_AUDIT=", p->aud_v);
  if (p->dir) out[j++] = s, s = put(s, settings.env_dir), *s++ = 0;
  if (p->ms) out[j++] = s, s = put(s, settings.env_ms), *s++ = 0;
  if (p->flags) out[j++] = s, s = put(s, settings.env_flags), *s++ = 0;
  out[j] = NULL;
  return out;
}

/*
 * The environment for the child: envp itself, or a fixed copy in `room` (on the caller's stack)
 * or, past ENV_ON_STACK bytes, in `heap`. On failure envp unchanged (the child is not recorded).
 */
#define ENV_FIX(envp, fixed, heap)                                                               \
  struct buf heap = {0};                                                                       \
  struct env_plan plan_ = env_plan(envp);                                                      \
  void *room_[plan_.size && plan_.size <= ENV_ON_STACK ? (plan_.size + 7) / 8 : 1];            \
  char **fixed = (char **)(envp);                                                              \
  if (plan_.size && plan_.size <= ENV_ON_STACK) fixed = env_build(envp, &plan_, (char *)room_); \
  else if (plan_.size && buf_reserve(&heap, plan_.size) == 0) fixed = env_build(envp, &plan_, heap.p)

#define EXEC_BEGIN(envp)                    \
  int wrote_ = recording_finish("exec"); \
  ENV_FIX(envp, fixed, heap)

#define EXEC_END(rc)                                                                            \
  do {                                                                                          \
    int e = errno;                                                                              \
    buf_free(&heap);                                                                            \
    if (wrote_) recording_resume(); /* the exec failed: the final result replaces this one */ \
    errno = e;                                                                                  \
    return rc;                                                                                  \
  } while (0)

static int missing(void) {
  errno = ENOSYS;
  return -1;
}

static int sys_result(long rc) {
  if (rc < 0 && rc > -4096) {
    errno = (int)-rc;
    return -1;
  }
  return (int)rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execve, path, argv, fixed, 0, 0, 0));
  EXEC_END(rc);
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  int rc = real_execvpe ? real_execvpe(file, argv, fixed) : missing();
  EXEC_END(rc);
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execveat, fd, "", argv, fixed, AT_EMPTY_PATH, 0));
  EXEC_END(rc);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags) {
  EXEC_BEGIN(envp);
  int rc = sys_result(RS(SYS_execveat, dirfd, path, argv, fixed, flags, 0));
  EXEC_END(rc);
}

/* execl, execlp, execle: collect the arguments, then as execv, execvp, execve. */
#define COLLECT_ARGS(arg, ap, argv, envp_out)                    \
  size_t argc_ = 1;                                              \
  va_start(ap, arg);                                             \
  while (va_arg(ap, const char *)) argc_++;                      \
  va_end(ap);                                                    \
  const char **argv = __builtin_alloca((argc_ + 1) * sizeof(char *)); \
  va_start(ap, arg);                                             \
  argv[0] = arg;                                                 \
  for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, const char *); \
  envp_out;                                                      \
  va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return execve(path, (char *const *)argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...) {
  va_list ap;
  COLLECT_ARGS(arg, ap, argv, (void)0);
  return execvpe(file, (char *const *)argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...) {
  va_list ap;
  char *const *envp;
  COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char *const *));
  return execve(path, (char *const *)argv, envp);
}

/* posix_spawn: the child is recorded by its own copy of the recorder; only the environment. */
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  ENV_FIX(envp, fixed, heap);
  int rc = real_posix_spawn ? real_posix_spawn(pid, path, fa, attr, argv, fixed) : ENOSYS;
  buf_free(&heap);
  return rc;
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  ENV_FIX(envp, fixed, heap);
  int rc = real_posix_spawnp ? real_posix_spawnp(pid, file, fa, attr, argv, fixed) : ENOSYS;
  buf_free(&heap);
  return rc;
}
