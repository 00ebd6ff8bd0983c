#ifndef HELLO_EPF_GREET_H
#define HELLO_EPF_GREET_H
/* Writes the greeting for `name` to stdout; returns a checksum of what it wrote. */
unsigned long greet(const char *name);
#endif
