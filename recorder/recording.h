/*
 * The preload role: one process image's recording. The constructor (preload.c) fills `settings`
 * and calls recording_begin; the result is written once, by the first of: the end of the window
 * (window.c), exit (the destructor), _exit/_Exit, exec (exec.c).
 *
 * What may run where (docs/RECORDING.md, "Inside the program"):
 *  - recording_finish runs in signal handlers (_exit), in any thread, in the window thread (which
 *    has no libc thread state) and in vfork children (where it does nothing);
 *  - recording_fork_child runs in a fork child, maybe of a threaded program, maybe forked from a
 *    signal handler.
 * So both, and all they call, use only raw system calls (sys.h), their own anonymous mappings
 * (buf.h), small stack frames (a handler may run on a small sigaltstack), no lock (the only
 * waiting is bounded), no errno, no TLS, no ld.so (objects.h) and no libc function but the
 * pure string ones (memcpy, strlen, ...).
 */
#ifndef RECORDER_RECORDING_H
#define RECORDER_RECORDING_H

#include <stdint.h>

/* Written once by the constructor, before any other thread of ours exists; read-only after. */
struct settings {
  int active;              /* this instance records (base namespace, directory given) */
  char dir[4096];          /* ELFPREFETCH_RECORD_DIR */
  uint64_t window_ms;      /* ELFPREFETCH_RECORD_MS, 0: the whole run */
  int nouffd, random;      /* ELFPREFETCH_RECORD_FLAGS */
  uint64_t page_size;
  char self_path[4096];    /* this library */
  int want_audit;          /* LD_AUDIT named this library */
  char env_dir[4200], env_ms[64], env_flags[512]; /* NAME=value, to put back into a child's environment */
};
extern struct settings settings;

/* Starts recording this process (forked: a fork child, whose page tables the fork copied). */
void recording_begin(int forked);
/* In a fork child: a recording of its own (registrations and the window thread are not inherited). */
void recording_fork_child(void);
/* Ends the recording and writes the result, once; 1 if this call wrote it. */
int recording_finish(const char *reason);
/* After an exec that failed, whose recording_finish wrote: keep recording (the final result replaces that one). */
void recording_resume(void);
/* Snapshots at end_ns (CLOCK_MONOTONIC) from a thread that takes no signals. */
void window_start(uint64_t end_ns, int forked);

#endif
