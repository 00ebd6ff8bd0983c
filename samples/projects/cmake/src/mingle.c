/* The training-link sample of docs/BUILD-SYSTEMS.md ("Ordered link", "A function-exact
 * profile"): 128 modules, each a small function start-up may run and a 6 KB helper that no
 * start-up runs, side by side in source order. Start-up runs every fourth module. A page-grained
 * profile cannot tell a module from the helpers on its pages, so an order made from it keeps
 * them together and start-up stays spread; a profile of the training link (every function on a
 * page of its own) names just the 32 modules, which then fit on a page or two. */
#include <stdio.h>

#define R8(P, h) P(h##0) P(h##1) P(h##2) P(h##3) P(h##4) P(h##5) P(h##6) P(h##7)
#define R128(P) R8(P, 10) R8(P, 11) R8(P, 12) R8(P, 13) R8(P, 14) R8(P, 15) R8(P, 16) R8(P, 17) \
  R8(P, 20) R8(P, 21) R8(P, 22) R8(P, 23) R8(P, 24) R8(P, 25) R8(P, 26) R8(P, 27)

/* noipa keeps each function whole, uncloned and called; the helper's 6000 bytes never run. */
#define MODULE(n) \
  __attribute__((noipa)) int module_##n(int x) { return x * 3 + n; } \
  __attribute__((noipa)) int helper_##n(int x) { \
    if (x == -12345) __asm__ volatile(".skip 6000, 0x90"); \
    return x - n; }
R128(MODULE)
#define REF(n) module_##n, helper_##n,
static int (*const modules[256])(int) = {R128(REF)};

int main(int argc, char **argv)
{
    long sum = 0;
    for (int i = 0; i < 256; i += 8) sum += modules[i](i);
    if (argc > 1) printf("mingle: 32 modules started, checksum %ld\n", sum);
    return 0;
}
