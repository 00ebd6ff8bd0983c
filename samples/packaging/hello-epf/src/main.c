/* hello-epf: the program of the sample package (samples/packaging/hello-epf). */
#include <stdio.h>
#include "greet.h"

int main(int argc, char **argv)
{
	unsigned long sum = greet(argc > 1 ? argv[1] : "packager");
	printf("checksum %08lx\n", sum);
	return 0;
}
