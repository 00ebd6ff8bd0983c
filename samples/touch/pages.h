/* Macros that repeat a definition for 16, 64 or 256 two-digit hex suffixes (00..ff). */
#ifndef TOUCH_PAGES_H
#define TOUCH_PAGES_H
#define TOUCH_R16(P, h) P(h##0) P(h##1) P(h##2) P(h##3) P(h##4) P(h##5) P(h##6) P(h##7) \
  P(h##8) P(h##9) P(h##a) P(h##b) P(h##c) P(h##d) P(h##e) P(h##f)
#define TOUCH_R64(P) TOUCH_R16(P, 0) TOUCH_R16(P, 1) TOUCH_R16(P, 2) TOUCH_R16(P, 3)
#define TOUCH_R256(P) TOUCH_R64(P) TOUCH_R16(P, 4) TOUCH_R16(P, 5) TOUCH_R16(P, 6) TOUCH_R16(P, 7) \
  TOUCH_R16(P, 8) TOUCH_R16(P, 9) TOUCH_R16(P, a) TOUCH_R16(P, b) TOUCH_R16(P, c) TOUCH_R16(P, d) \
  TOUCH_R16(P, e) TOUCH_R16(P, f)

/* One function per page: page-aligned, small, never inlined, all in one input section. */
#define TOUCH_PAGE_FN(prefix, n) \
  __attribute__((noinline, aligned(4096), section(".text.touch"))) int prefix##n(int x) { return x * (0x##n + 3) + 0x##n; }

/* Calls each listed index of a table of page functions: "0-15,20". Returns -1 on a bad list. */
static inline long touch_spec(const char *s, int (*const *table)(int), int n, long *sum) {
  while (*s) {
    char *end;
    long lo = strtol(s, &end, 10), hi = lo;
    if (end == s) return -1;
    if (*end == '-') {
      s = end + 1;
      hi = strtol(s, &end, 10);
      if (end == s) return -1;
    }
    if (lo < 0 || hi < lo || hi >= n) return -1;
    for (long i = lo; i <= hi; i++) *sum += table[i]((int)i);
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return 0;
}
#endif
