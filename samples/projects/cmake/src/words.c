#include "words.h"

static const char *const words[] = {         /* .data.rel.ro */
    "prefetch", "page", "note", "segment", "section", "loader", "cache",
};
static unsigned seed = 2166136261u;          /* .data */

unsigned word_count(void)
{
    return sizeof words / sizeof words[0];
}

unsigned word_checksum(void)
{
    unsigned h = seed;
    for (unsigned i = 0; i < word_count(); i++)
        for (const char *p = words[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;   /* FNV-1a */
    return h;
}
