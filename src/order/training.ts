/*
 * The training link (docs/USAGE.md, `order --training`): the program linked with every function
 * section and every read-only data section on a page of its own. A profile of it is exact per
 * function: a recorded page is one function (or variable) start-up used, where the stock link's
 * pages also hold neighbours it never ran. `order` on that profile lists just what start-up ran.
 *
 * A GNU ld script: INSERT adds its output sections to the default script (-T does not replace
 * it), and SUBALIGN puts each input section at a page boundary. lld cannot INSERT relative to an
 * output section the script leaves empty, and this one takes all of .text and .rodata ("unable
 * to insert ... before .text"); gold takes no INSERT at all. So the training link is made with
 * GNU ld whatever links the final program: the names it records
 * are the same for every linker. Writable data is left as linked: ld.so's relocations touch most
 * of its pages whether start-up uses the variables on them or not.
 */

/** The page the training link gives each section (x86-64 and AArch64 4 KiB pages; a larger page only makes it coarser). */
export const TRAINING_ALIGN = 4096;

/** The linker script of a training link, for `-fuse-ld=bfd -Wl,-T,FILE`. */
export function trainingScript(): string {
  // The input patterns and their order are those of GNU ld's default .text, so the functions
  // keep their stock order, each at the start of a page.
  return (
    `/* elfprefetch training link: every function and read-only data section on a page of its own,\n` +
    `   so that a recorded page names the one function start-up ran (docs/USAGE.md, order --training).\n` +
    `   Link with GNU ld: -fuse-ld=bfd -Wl,-T,THIS_FILE; record it; then \`elfprefetch order\` on that profile. */\n` +
    `SECTIONS\n{\n` +
    `  .text.elfprefetch_training : SUBALIGN(${TRAINING_ALIGN})\n  {\n` +
    `    *(.text.unlikely .text.*_unlikely .text.unlikely.*)\n` +
    `    *(.text.exit .text.exit.*)\n` +
    `    *(.text.startup .text.startup.*)\n` +
    `    *(.text.hot .text.hot.*)\n` +
    `    *(.text .stub .text.*)\n` +
    `  }\n}\nINSERT BEFORE .text;\n` +
    `SECTIONS\n{\n` +
    `  .rodata.elfprefetch_training : SUBALIGN(${TRAINING_ALIGN}) { *(.rodata .rodata.*) }\n` +
    `}\nINSERT BEFORE .rodata;\n`
  );
}
