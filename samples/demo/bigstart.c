/*
 * The demo's sample program (npm run demo): start-up work spread over a large file, as in a
 * real program whose start-up code and tables are scattered among code it does not run yet.
 * 192 "modules" of 16 KiB of code each (3 MiB of .text) and a 3 MiB read-only table; at start
 * every third module runs once and every 48th KiB of the table is read. From a cold page
 * cache each of those is a page fault and a small read; elfprefetch reads them up front in a
 * few large reads. x86-64 (the modules are machine code).
 */
#include <stdio.h>

#define MODULES 192
#define MODULE_BYTES 16384
#define TABLE_BYTES (3 << 20)

/* Each module: mov $1,%eax; ret; then padding up to 16 KiB (int3, never run). */
__asm__(
    ".section .text.modules,\"ax\",@progbits\n"
    ".p2align 12\n"
    ".globl demo_modules\n"
    "demo_modules:\n"
    ".rept 192\n"
    "  movl $1, %eax\n"
    "  ret\n"
    "  .fill 16384 - 6, 1, 0xcc\n"
    ".endr\n"
    ".section .rodata.table,\"a\",@progbits\n"
    ".p2align 12\n"
    ".globl demo_table\n"
    "demo_table:\n"
    "  .fill 3 << 20, 1, 1\n"
    ".text\n");

extern char demo_modules[];
extern const volatile unsigned char demo_table[];

int main(int argc, char **argv) {
  int ran = 0, sum = 0;
  for (int i = 0; i < MODULES; i += 3) ran += ((int (*)(void))(demo_modules + (long)i * MODULE_BYTES))();
  for (long at = 0; at < TABLE_BYTES; at += 48 << 10) sum += demo_table[at];
  if (argc > 1) printf("%s: %d modules started, %d table entries read\n", argv[0], ran, sum);
  return ran == MODULES / 3 ? 0 : 1;
}
