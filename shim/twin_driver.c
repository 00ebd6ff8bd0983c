/*
 * Test driver: the shim's twins of TypeScript functions, on cases from stdin, for
 * spec/shim-twins.spec.ts. One command a line, one answer a line:
 *   crc HEX                     -> the CRC-32 of the bytes, 8 hex digits
 *   fnv HEX                     -> FNV-1a 64 of the bytes, 16 hex digits
 *   layout N TYPE FLAGS OFFSET VADDR FILESZ MEMSZ ALIGN ... (N program headers, decimal)
 *                               -> the layout digest of that table (FORMAT.md 2), 16 hex digits
 *   file PATH                   -> "LAYOUT BUILD-ID NOTE" as the shim reads the file (NOTE:
 *                                  "note" or "none"), or "refused WHY"
 *   device PATH                 -> "CLASS: WHY, requests <= N KiB" as the debug line says it, or "error"
 *   device-as CLASS PATH        -> the same with ELFPREFETCH_DEVICE=CLASS: "CLASS, requests <= N KiB"
 *   netfs HEX                   -> "1" when a file system of that statfs f_type is a network one, else "0"
 *   netfs-list                  -> the network file systems' f_type values, hex, space-separated
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epf_devclass.h"
#include "epf_file.h"
#include "epf_inspect.h"
#include "epf_note.h"

#define MAX_BYTES 65536
#define MAX_PHDRS 64

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = 0;
  while (s[0] && s[1] && n < MAX_BYTES) {
    unsigned v;
    if (sscanf(s, "%2x", &v) != 1) break;
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return n;
}

static void print_hex(const uint8_t *p, size_t n) {
  if (!n) printf("-");
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

static void file_cmd(const char *path) {
  struct epf_file f = {.have_st = 0};
  f.fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    printf("refused cannot open\n");
    return;
  }
  struct epf_page head;
  struct epf_ident id;
  const char *why = epf_page_get(&head) ? epf_inspect_file(&f, head.b, &id, 1) : "no page";
  if (why) {
    printf("refused %s\n", why);
  } else {
    printf("%016" PRIx64 " ", id.layout);
    print_hex(id.bid, id.bid_len);
    printf(" %s\n", id.note_found ? "note" : "none");
  }
  epf_ident_release(&id);
  epf_page_put(&head);
  close(f.fd);
}

static void device_cmd(const char *path, const char *forced) {
  struct epf_options o;
  memset(&o, 0, sizeof o);
  o.device = epf_device_by_name(forced);
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    printf("error\n");
  } else {
    struct epf_devpick d = epf_device_for(&o, fd, &st);
    if (d.why) printf("%s: %s%s, requests <= %u KiB\n", d.dev->name, d.loop ? "loop device on " : "", d.why, d.cap >> 10);
    else printf("%s, requests <= %u KiB\n", d.dev->name, d.cap >> 10);
  }
  if (fd >= 0) close(fd);
}

int main(void) {
  static char line[2 * MAX_BYTES + 4200];
  static uint8_t bytes[MAX_BYTES];
  setvbuf(stdout, 0, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *arg = strchr(line, ' ');
    arg = arg ? arg + 1 : line + strlen(line);
    if (strncmp(line, "crc ", 4) == 0) {
      printf("%08" PRIx32 "\n", epf_crc32(bytes, unhex(arg, bytes)));
    } else if (strncmp(line, "fnv ", 4) == 0) {
      printf("%016" PRIx64 "\n", epf_fnv1a64(EPF_FNV_OFFSET, bytes, unhex(arg, bytes)));
    } else if (strncmp(line, "layout ", 7) == 0) {
      ElfW(Phdr) ph[MAX_PHDRS];
      char *p = arg, *end;
      unsigned long n = strtoul(p, &end, 10);
      if (n > MAX_PHDRS) return 2;
      for (unsigned long i = 0; i < n; i++) {
        unsigned long long v[7];
        for (int k = 0; k < 7; k++) v[k] = strtoull(p = end, &end, 10);
        memset(&ph[i], 0, sizeof ph[i]);
        ph[i].p_type = (uint32_t)v[0];
        ph[i].p_flags = (uint32_t)v[1];
        ph[i].p_offset = v[2];
        ph[i].p_vaddr = v[3];
        ph[i].p_filesz = v[4];
        ph[i].p_memsz = v[5];
        ph[i].p_align = v[6];
      }
      printf("%016" PRIx64 "\n", epf_layout_digest((const uint8_t *)ph, n));
    } else if (strncmp(line, "file ", 5) == 0) {
      file_cmd(arg);
    } else if (strncmp(line, "device ", 7) == 0) {
      device_cmd(arg, 0);
    } else if (strcmp(line, "netfs-list") == 0) {
      for (int i = 0; i < EPF_NETWORK_FS_COUNT; i++) printf("%s%lx", i ? " " : "", epf_network_fs_types[i]);
      printf("\n");
    } else if (strncmp(line, "netfs ", 6) == 0) {
      printf("%d\n", epf_network_fs(strtoul(arg, 0, 16)));
    } else if (strncmp(line, "device-as ", 10) == 0) {
      char *path = strchr(arg, ' ');
      if (!path) return 2;
      *path++ = 0;
      device_cmd(path, arg);
    } else {
      return 2;
    }
  }
  return 0;
}
