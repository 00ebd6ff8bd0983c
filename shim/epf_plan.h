/*
 * The read plan: device classes of the cost model and the streaming coalescer (src/readplan/coalesce.ts
 * is the same function in TypeScript; spec/plan-coalesce.spec.ts checks the two against each
 * other). Pure computation: no system call, no libc beyond strcmp and memset.
 */
#ifndef EPF_PLAN_H
#define EPF_PLAN_H

#include <stdint.h>

/* Largest request handed to readahead(2): the kernel silently caps larger calls. */
#define EPF_MAX_REQUEST (1u << 20)
/* Smallest cap a device's queue limits can set (epf_devclass.c): below it the requests of a large
 * set would grow past 16 times main's count of readahead calls. */
#define EPF_MIN_REQUEST (64u << 10)

/* A device class of the coalescing cost model: a request costs 1/iops seconds, a byte 1/bandwidth. */
struct epf_device {
  const char *name;
  uint64_t iops;
  uint64_t bandwidth; /* bytes per second (MB = 10^6 bytes) */
};

/* The classes, in this order (the detection of epf_devclass.c picks among them). */
enum { EPF_DEV_HDD, EPF_DEV_SSD, EPF_DEV_NVME, EPF_DEV_NET, EPF_DEV_COUNT };
extern const struct epf_device epf_devices[EPF_DEV_COUNT];

/* hdd, ssd, nvme, net; NULL for anything else. */
const struct epf_device *epf_device_by_name(const char *name);

/* Called for each planned read request. */
typedef void (*epf_request_fn)(void *ctx, uint64_t offset, uint64_t length);

/*
 * The streaming coalescer. Feed it the runs of a page set in file order; it clips them to the
 * file size (a run at or past the end stops the plan), merges a hole of h bytes into the current
 * request iff h * iops < bandwidth (h / bandwidth < 1 / iops: the transfer costs less than the
 * request it saves) and the merged request stays within the cap, and splits a longer run into
 * pieces of the cap from its start. The cap is the largest request the file's device takes
 * (epf_devclass.c): a larger one is always split, and the cost model counts one request per
 * planned request; epf_plan_cap() keeps it within EPF_MIN_REQUEST..EPF_MAX_REQUEST.
 */
struct epf_plan {
  uint64_t file_size;
  uint32_t page_shift;
  uint64_t iops, bandwidth;
  uint64_t cap; /* largest request, bytes */
  epf_request_fn emit;
  void *ctx;
  int have;
  uint64_t start, end;
  uint32_t runs;     /* runs that reached the plan (after clipping) */
  uint32_t requests; /* requests emitted */
  uint64_t bytes;    /* bytes requested */
  int done;          /* a run reached the end of the file */
};

/* A cap in bytes as the plan uses it: 0 is EPF_MAX_REQUEST; else rounded down to 4 KiB, within
 * EPF_MIN_REQUEST..EPF_MAX_REQUEST. */
uint32_t epf_plan_cap(uint64_t bytes);

void epf_plan_init(struct epf_plan *p, uint64_t file_size, uint32_t page_shift, const struct epf_device *dev, uint32_t cap, epf_request_fn emit, void *ctx);
/* Adds a run of pages; returns non-zero once the plan is complete (end of file reached). */
int epf_plan_run(void *plan, uint32_t first, uint32_t count);
void epf_plan_finish(struct epf_plan *p);

#endif
