/* libhello-epf: the shared library of the sample package. */
#include <stdio.h>
#include <string.h>
#include "greet.h"

unsigned long greet(const char *name)
{
	char line[256];
	unsigned long sum = 5381;
	int n = snprintf(line, sizeof line, "hello, %s! (libhello-epf %s)\n", name, HELLO_EPF_VERSION);
	if (n < 0)
		return 0;
	for (size_t i = 0; i < strlen(line); i++)
		sum = sum * 33 + (unsigned char)line[i];
	fputs(line, stdout);
	return sum & 0xffffffffUL;
}
