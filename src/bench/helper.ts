/*
 * The benchmark's native helper, `elfprefetch-benchrun`: compiled on first use (gcc) into a
 * folder of its own, keyed by a hash of its source.
 *
 *   elfprefetch-benchrun run PROCS_FILE OUT_FILE -- CMD [ARGS...]
 *       forks; the child writes its pid into PROCS_FILE (a cgroup's cgroup.procs, "-" for none)
 *       and execs CMD; the parent waits for it (wait4) and writes to OUT_FILE one line:
 *       "wall_ns status signal minflt majflt utime_us stime_us", the rusage of every descendant
 *       that was waited for (getrusage(RUSAGE_CHILDREN)), so the whole child tree is counted.
 *   elfprefetch-benchrun prefetch FILE... -- CMD [ARGS...]
 *       reads every FILE fully ahead with readahead(2) in 1 MiB chunks (posix_fadvise WILLNEED
 *       where readahead is refused), like `vmtouch -t` without waiting, then execs CMD.
 *   elfprefetch-benchrun loop N -- CMD [ARGS...]
 *       runs CMD N times one after the other (posix_spawnp, stdout and stderr to /dev/null,
 *       wait4) and prints one line per start, "wall_ns cpu_us status" (cpu: user + system
 *       time of that start's process tree): warm start-up time without the cost of a shell or
 *       of node's child_process between runs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConflictError, ToolError } from '../errors';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int sep_of(int argc, char **argv, int from) {
  for (int i = from; i < argc; i++) if (strcmp(argv[i], "--") == 0) return i;
  return -1;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int do_prefetch(int argc, char **argv) {
  int sep = sep_of(argc, argv, 2);
  if (sep < 0 || sep + 1 >= argc) { fprintf(stderr, "usage: elfprefetch-benchrun prefetch FILE... -- CMD [ARGS...]\n"); return 126; }
  const off_t chunk = 1 << 20;
  for (int i = 2; i < sep; i++) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      for (off_t off = 0; off < st.st_size; off += chunk) {
        size_t n = (size_t)(st.st_size - off < chunk ? st.st_size - off : chunk);
        if (readahead(fd, off, n) != 0) posix_fadvise(fd, off, (off_t)n, POSIX_FADV_WILLNEED);
      }
    }
    close(fd);
  }
  execvp(argv[sep + 1], argv + sep + 1);
  fprintf(stderr, "elfprefetch-benchrun: %s: %s\n", argv[sep + 1], strerror(errno));
  return 127;
}

static int do_run(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) { fprintf(stderr, "usage: elfprefetch-benchrun run PROCS_FILE OUT_FILE -- CMD [ARGS...]\n"); return 126; }
  const char *procs = argv[2], *out = argv[3];
  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) { perror("elfprefetch-benchrun: fork"); return 126; }
  if (pid == 0) {
    if (strcmp(procs, "-") != 0) {
      int fd = open(procs, O_WRONLY | O_CLOEXEC);
      char buf[32];
      int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
      if (fd < 0 || write(fd, buf, (size_t)len) != len) { fprintf(stderr, "elfprefetch-benchrun: joining %s: %s\n", procs, strerror(errno)); _exit(126); }
      close(fd);
    }
    execvp(argv[5], argv + 5);
    fprintf(stderr, "elfprefetch-benchrun: %s: %s\n", argv[5], strerror(errno));
    _exit(127);
  }
  signal(SIGINT, SIG_IGN);
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) if (errno != EINTR) { perror("elfprefetch-benchrun: wait4"); return 126; }
  long long t1 = now_ns();
  struct rusage all;
  getrusage(RUSAGE_CHILDREN, &all);
  FILE *f = fopen(out, "w");
  if (!f) { perror(out); return 126; }
  fprintf(f, "%lld %d %d %ld %ld %lld %lld %ld\n", t1 - t0, WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
          all.ru_minflt, all.ru_majflt, (long long)all.ru_utime.tv_sec * 1000000 + all.ru_utime.tv_usec, (long long)all.ru_stime.tv_sec * 1000000 + all.ru_stime.tv_usec, all.ru_inblock);
  fclose(f);
  return 0;
}

/* evict FILE...: drops the clean, unmapped page-cache pages of each file (posix_fadvise DONTNEED). */
static int do_evict(int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  return 0;
}

extern char **environ;

static int do_loop(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) { fprintf(stderr, "usage: elfprefetch-benchrun loop N -- CMD [ARGS...]\n"); return 126; }
  long n = strtol(argv[2], 0, 10);
  if (n < 1) { fprintf(stderr, "elfprefetch-benchrun: loop count %s\n", argv[2]); return 126; }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  for (long i = 0; i < n; i++) {
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    long long t0 = now_ns();
    pid_t pid;
    int e = posix_spawnp(&pid, argv[4], &fa, 0, argv + 4, environ);
    if (e != 0) { fprintf(stderr, "elfprefetch-benchrun: %s: %s\n", argv[4], strerror(e)); return 127; }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) { perror("elfprefetch-benchrun: waitpid"); return 126; }
    long long t1 = now_ns();
    getrusage(RUSAGE_CHILDREN, &after);
    long long cpu = (after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1000000LL +
                    (after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec - before.ru_stime.tv_usec);
    printf("%lld %lld %d\n", t1 - t0, cpu, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "loop") == 0) return do_loop(argc, argv);
  if (argc > 1 && strcmp(argv[1], "run") == 0) return do_run(argc, argv);
  if (argc > 1 && strcmp(argv[1], "evict") == 0) return do_evict(argc, argv);
  if (argc > 1 && strcmp(argv[1], "prefetch") == 0) return do_prefetch(argc, argv);
  fprintf(stderr, "usage: elfprefetch-benchrun run|prefetch|evict|loop ...\n");
  return 126;
}
`;

/** The helper's path, compiling it when it is not there yet. */
export function benchHelper(): string {
  const hash = createHash('sha256').update(SOURCE).digest('hex').slice(0, 12);
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  // one folder per user: never run a helper another user could have put there
  const dir = path.join(os.tmpdir(), `elfprefetch-benchrun-${hash}-${uid}`);
  const exe = path.join(dir, 'elfprefetch-benchrun');
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || st.mode & 0o022) throw new ConflictError(`${dir} is not a private folder of this user: remove it`);
  if (fs.existsSync(exe)) return exe;
  const src = path.join(dir, 'benchrun.c');
  fs.writeFileSync(src, SOURCE);
  const tmp = `${exe}.${process.pid}`;
  // Static, so that the helper (exec'd inside the namespace where libc and ld.so are the cold
  // copies) does not page in the cold libc itself before it prefetches; dynamic if it must.
  const cc = process.env.CC || 'gcc';
  try {
    execFileSync(cc, ['-O2', '-Wall', '-static', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    try {
      execFileSync(cc, ['-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new ToolError(`cannot compile the benchmark helper (gcc): ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`);
    }
  }
  fs.renameSync(tmp, exe);
  return exe;
}

export interface RunUsage {
  wallNs: number;
  status: number;
  signal: number;
  minflt: number;
  majflt: number;
  utimeUs: number;
  stimeUs: number;
  /** Blocks (512 bytes) read from storage by the child tree (ru_inblock). */
  inblock: number;
}

export function parseUsage(text: string): RunUsage {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new ToolError(`the benchmark helper wrote no usage (${JSON.stringify(text)})`);
  return { wallNs: f[0]!, status: f[1]!, signal: f[2]!, minflt: f[3]!, majflt: f[4]!, utimeUs: f[5]!, stimeUs: f[6]!, inblock: f[7]! };
}
