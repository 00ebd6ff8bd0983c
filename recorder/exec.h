/* exec and posix_spawn (exec.c). */
#ifndef RECORDER_EXEC_H
#define RECORDER_EXEC_H

/* Once, in the constructor: looks up the libc functions the wrappers call on. */
void exec_init(void);
/* Whether a colon- or space-separated list (LD_PRELOAD, LD_AUDIT) names this library. */
int names_self(const char *list);

#endif
