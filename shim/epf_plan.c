/* The read plan (epf_plan.h): the device classes and the coalescer. */
#include "epf_plan.h"

#include <stddef.h>
#include <string.h>

const struct epf_device epf_devices[EPF_DEV_COUNT] = {
    {"hdd", 100, 150000000ull},
    {"ssd", 10000, 500000000ull},
    {"nvme", 100000, 2000000000ull},
    {"net", 100, 30000000ull},
};

const struct epf_device *epf_device_by_name(const char *name) {
  if (!name) return 0;
  for (size_t i = 0; i < sizeof epf_devices / sizeof epf_devices[0]; i++)
    if (strcmp(name, epf_devices[i].name) == 0) return &epf_devices[i];
  return 0;
}

uint32_t epf_plan_cap(uint64_t bytes) {
  if (bytes == 0 || bytes >= EPF_MAX_REQUEST) return EPF_MAX_REQUEST;
  if (bytes <= EPF_MIN_REQUEST) return EPF_MIN_REQUEST;
  return (uint32_t)(bytes & ~(uint64_t)4095);
}

void epf_plan_init(struct epf_plan *p, uint64_t file_size, uint32_t page_shift, const struct epf_device *dev, uint32_t cap, epf_request_fn emit, void *ctx) {
  memset(p, 0, sizeof *p);
  p->cap = epf_plan_cap(cap);
  p->file_size = file_size;
  p->page_shift = page_shift;
  p->iops = dev->iops;
  p->bandwidth = dev->bandwidth;
  p->emit = emit;
  p->ctx = ctx;
}

static void plan_emit(struct epf_plan *p, uint64_t start, uint64_t end) {
  p->requests++;
  p->bytes += end - start;
  p->emit(p->ctx, start, end - start);
}

int epf_plan_run(void *plan, uint32_t first, uint32_t count) {
  struct epf_plan *p = plan;
  if (p->done) return 1;
  if (count == 0 || p->page_shift > 20) return 0;
  uint64_t a = (uint64_t)first << p->page_shift;
  uint64_t b = ((uint64_t)first + count) << p->page_shift;
  if (a >= p->file_size) {
    p->done = 1; /* runs come sorted: nothing after this is in the file either */
    return 1;
  }
  if (b > p->file_size) {
    b = p->file_size;
    p->done = 1;
  }
  p->runs++;
  /* Merge the hole iff reading it costs less than the request it saves: h/bw < 1/iops. The size
   * test comes first, so h < 1 MiB and h * iops cannot overflow. */
  if (p->have && a >= p->end && b - p->start <= p->cap && (a - p->end) * p->iops < p->bandwidth) {
    p->end = b;
    return p->done;
  }
  if (p->have) plan_emit(p, p->start, p->end);
  while (b - a > p->cap) {
    plan_emit(p, a, a + p->cap);
    a += p->cap;
  }
  p->have = 1;
  p->start = a;
  p->end = b;
  return p->done;
}

void epf_plan_finish(struct epf_plan *p) {
  if (p->have) plan_emit(p, p->start, p->end);
  p->have = 0;
}
