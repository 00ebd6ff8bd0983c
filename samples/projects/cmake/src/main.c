/* The sample program of docs/BUILD-SYSTEMS.md: a few source files and one shared library,
 * printing a fixed text so a test can tell that a stamped binary still runs as built. */
#include <stdio.h>
#include "shout.h"
#include "words.h"

int main(int argc, char **argv)
{
    const char *who = argc > 1 ? argv[1] : "world";
    char loud[64];

    shout(who, loud, sizeof loud);
    printf("hello, %s! (%s)\n", loud, SAMPLE_BUILD_SYSTEM);
    printf("%u words, checksum %08x\n", word_count(), word_checksum());
    return 0;
}
