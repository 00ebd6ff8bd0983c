/*
 * Test driver: the C coalescer on cases from stdin, for the differential test against
 * src/readplan/coalesce.ts. Each input line is "DEVICE CAP PAGE_SHIFT FILE_SIZE N first count ..."
 * (CAP: the request cap in bytes, 0 for none; N runs); each output line lists the planned requests as "offset+length" separated by spaces.
 */
#include <inttypes.h>
#include <stdio.h>

#include "epf_plan.h"

static void print_request(void *ctx, uint64_t off, uint64_t len) {
  int *first = ctx;
  printf("%s%" PRIu64 "+%" PRIu64, *first ? "" : " ", off, len);
  *first = 0;
}

int main(void) {
  char dev[16];
  unsigned shift, n;
  unsigned long long cap, size;
  while (scanf("%15s %llu %u %llu %u", dev, &cap, &shift, &size, &n) == 5) {
    const struct epf_device *d = epf_device_by_name(dev);
    if (!d) return 2;
    int first = 1;
    struct epf_plan p;
    epf_plan_init(&p, size, shift, d, epf_plan_cap(cap), print_request, &first);
    int stop = 0;
    for (unsigned i = 0; i < n; i++) {
      unsigned f, c;
      if (scanf("%u %u", &f, &c) != 2) return 2;
      if (!stop) stop = epf_plan_run(&p, f, c);
    }
    epf_plan_finish(&p);
    printf("\n");
  }
  return 0;
}
