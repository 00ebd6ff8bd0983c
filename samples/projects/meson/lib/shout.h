#ifndef SHOUT_H
#define SHOUT_H
#include <stddef.h>
void shout(const char *in, char *out, size_t size);
#endif
