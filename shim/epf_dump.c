/*
 * Test tool: decodes descriptors with the shim's parser, for the differential test against
 * the TypeScript codec. Reads from stdin records of "u32 length (LE), bytes"; prints one line
 * each: "error N" or "ok objects=N" followed by " o<i>:<build-id hex>:<set default runs>".
 */
#include <stdio.h>
#include <stdlib.h>
#include "epf_note.h"

static int print_run(void *ctx, uint32_t first, uint32_t count) {
  (void)ctx;
  printf(" %u+%u", first, count);
  return 0;
}

int main(void) {
  static uint8_t buf[EPF_MAX_DESC_SIZE + 16];
  uint8_t lenb[4];
  while (fread(lenb, 1, 4, stdin) == 4) {
    uint32_t len = lenb[0] | lenb[1] << 8 | lenb[2] << 16 | (uint32_t)lenb[3] << 24;
    if (len > sizeof buf || fread(buf, 1, len, stdin) != len) return 2;
    /* A copy of exactly len bytes, so AddressSanitizer sees any read past the end. */
    uint8_t *d = malloc(len ? len : 1);
    for (uint32_t i = 0; i < len; i++) d[i] = buf[i];
    struct epf_note n;
    int e = epf_note_open(&n, d, len);
    if (e) {
      printf("error %d\n", e);
      free(d);
      continue;
    }
    printf("ok objects=%u", n.object_count);
    for (uint32_t o = 0; o < n.object_count; o++) {
      struct epf_object obj;
      if (epf_note_object(&n, o, &obj)) return 3;
      printf(" o%u:", o);
      for (uint32_t i = 0; i < obj.build_id_len; i++) printf("%02x", obj.build_id[i]);
      printf(":");
      epf_note_runs(&n, o, "default", 7, print_run, 0);
    }
    printf("\n");
    free(d);
  }
  return 0;
}
