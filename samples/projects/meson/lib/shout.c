/* libshout.so: upper-cases a word (the sample's shared library). */
#include <ctype.h>
#include <stddef.h>
#include "shout.h"

void shout(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = (char)toupper((unsigned char)in[i]);
    out[i] = '\0';
}
