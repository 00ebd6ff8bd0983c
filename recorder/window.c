/*
 * The window thread: sleeps until the end of the window, then writes the result.
 *
 * On x86-64 and aarch64 it is a bare kernel thread made with clone(2), not a pthread: it is the
 * same in the process and in a fork child (where pthread_create, which allocates its stack and
 * thread block with malloc and takes glibc's stack lock, is not allowed), it leaves libc's idea of
 * the program alone (still single-threaded if it was: no switch to locked stdio and malloc), and
 * it needs nothing but the system calls it makes. Its stack is static (one window thread per
 * process image at a time; a fork child has its own copy), it blocks every signal (so none is
 * ever delivered to it), and its thread pointer points at a zeroed block of its own, so that
 * even a stray thread-local access cannot reach another thread's. Its code (recording.c) uses no
 * thread-local storage: no errno, no stack protector (the Makefile turns it off).
 * An exec or the process's end takes it away with the other threads.
 *
 * Elsewhere a pthread does the job in the process and a fork child records until its end.
 */
#include <pthread.h>
#include <signal.h>

#include "recording.h"
#include "sys.h"

static uint64_t window_end;

static void window_main(void) {
  struct timespec ts = {(time_t)(window_end / 1000000000ULL), (long)(window_end % 1000000000ULL)};
  while (r_sleep_until(&ts) == -EINTR) {
  }
  recording_finish("window");
}

#if RAW_SYSCALLS
static char stack[64 * 1024] __attribute__((aligned(64)));
static uint64_t tls_block[1024] __attribute__((aligned(64)));

/* clone(2) a thread that runs fn on stack_top with thread pointer tp and exits; -errno on failure. */
static long raw_thread(void *stack_top, void *tp, void (*fn)(void)) {
  const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS;
#if defined(__x86_64__)
  /* clone(flags, stack, parent_tid, child_tid, tls) */
  long ret;
  register long r10 __asm__("r10") = 0;
  register long r8 __asm__("r8") = (long)tp;
  register long r9 __asm__("r9") = (long)fn;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t" /* the new thread: no frame above this one */
      "call *%%r9\n\t"
      "mov %[exit], %%eax\n\t"
      "xor %%edi, %%edi\n\t"
      "syscall\n\t"
      "hlt\n"
      "1:"
      : "=a"(ret)
      : "0"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(r9), [exit] "i"(SYS_exit)
      : "rcx", "r11", "memory");
  return ret;
#else
  /* clone(flags, stack, parent_tid, tls, child_tid) */
  register long x8 __asm__("x8") = SYS_clone;
  register long x0 __asm__("x0") = flags;
  register long x1 __asm__("x1") = (long)stack_top;
  register long x2 __asm__("x2") = 0;
  register long x3 __asm__("x3") = (long)tp;
  register long x4 __asm__("x4") = 0;
  register long x5 __asm__("x5") = (long)fn;
  __asm__ volatile(
      "svc 0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t" /* the new thread: no frame above this one */
      "mov x30, xzr\n\t"
      "blr x5\n\t"
      "mov x8, %[exit]\n\t"
      "mov x0, xzr\n\t"
      "svc 0\n"
      "1:"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5), [exit] "i"(SYS_exit)
      : "x30", "memory", "cc");
  return x0;
#endif
}

void window_start(uint64_t end_ns, int forked) {
  (void)forked;
  window_end = end_ns;
#if defined(__x86_64__)
  /* TLS below the thread pointer, the thread block (which points to itself) above it */
  uint64_t *tp = tls_block + 768;
  tp[0] = tp[2] = (uint64_t)(uintptr_t)tp;
#else
  uint64_t *tp = tls_block + 256; /* thread block at the pointer, TLS above it */
#endif
  uint64_t all = ~0ULL, old;
  if (r_sigmask(SIG_SETMASK, &all, &old)) return;
  raw_thread(stack + sizeof stack, tp, window_main);
  r_sigmask(SIG_SETMASK, &old, NULL);
}

#else
static void *window_pthread(void *arg) {
  (void)arg;
  window_main();
  return NULL;
}

void window_start(uint64_t end_ns, int forked) {
  if (forked) return; /* no pthread_create in a fork child: it records until its end */
  window_end = end_ns;
  pthread_attr_t attr;
  pthread_t t;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits it: it takes no signals */
  if (pthread_attr_init(&attr) == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_create(&t, &attr, window_pthread, NULL);
    pthread_attr_destroy(&attr);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}
#endif
