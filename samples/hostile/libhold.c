/*
 * A library whose constructor never returns: the thread that dlopens it stays inside dlopen,
 * holding ld.so's load lock, for as long as the process lives. It first writes one byte to the
 * descriptor named by HOLD_FD, so the program knows the lock is held.
 */
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void hold(void) {
  const char *fd = getenv("HOLD_FD");
  if (fd) (void)!write(atoi(fd), "h", 1);
  for (;;) pause();
}

int held(void) { return 1; }
