/*
 * A system call without libc, on x86-64 and aarch64: the kernel's result as it is (-errno on
 * failure), no errno, no lock, no state. The auditor's C library (nolibc.c) is made of these, and
 * so is the recorder's (recorder/sys.h). EPF_RAW_SYSCALLS says whether this machine has them.
 */
#ifndef EPF_SYSCALL_H
#define EPF_SYSCALL_H

#if defined(__x86_64__)
#define EPF_RAW_SYSCALLS 1
static inline long epf_raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
#define EPF_RAW_SYSCALLS 1
static inline long epf_raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
  return x0;
}
#else
#define EPF_RAW_SYSCALLS 0
#endif

#endif
