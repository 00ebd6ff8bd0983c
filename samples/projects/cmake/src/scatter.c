/* The ordered-link sample of docs/BUILD-SYSTEMS.md ("Ordered link"): 128 modules of one page of
 * code each, of which start-up runs every fourth. Linked in source order its start-up code is
 * 32 pages spread over 128; linked with an order file from its profile (`elfprefetch order`)
 * the same 32 pages are one contiguous run. Built with -ffunction-sections, so each module is
 * an input section of its own (.text.module_NN) that a linker can place. */
#include <stdio.h>

#define R8(P, h) P(h##0) P(h##1) P(h##2) P(h##3) P(h##4) P(h##5) P(h##6) P(h##7)
#define R128(P) R8(P, 10) R8(P, 11) R8(P, 12) R8(P, 13) R8(P, 14) R8(P, 15) R8(P, 16) R8(P, 17) \
  R8(P, 20) R8(P, 21) R8(P, 22) R8(P, 23) R8(P, 24) R8(P, 25) R8(P, 26) R8(P, 27)

/* A page of code each (aligned, so no two modules share one, and filled: 4040 bytes of code that
 * start-up does not run); noipa keeps them whole and uncloned. */
#define MODULE(n) __attribute__((noipa, aligned(4096))) int module_##n(int x) { \
    if (x == -12345) __asm__ volatile(".skip 4040, 0x90"); \
    return x * 3 + n; }
R128(MODULE)
#define REF(n) module_##n,
static int (*const modules[128])(int) = {R128(REF)};

int main(int argc, char **argv)
{
    long sum = 0;
    for (int i = 0; i < 128; i += 4) sum += modules[i](i);
    if (argc > 1) printf("scatter: 32 modules started, checksum %ld\n", sum);
    return 0;
}
