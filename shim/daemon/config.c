/* elfprefetchd's configuration file: see config.h. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (64u << 10)

void epfd_config_defaults(struct epfd_config *c) {
  memset(c, 0, sizeof *c);
  c->mode = EPFD_NOTIFY;
  c->marks = 1;
  memcpy(c->mark[0].path, "/", 2);
  snprintf(c->sidecar, sizeof c->sidecar, "%s", EPF_SIDECAR_DIR);
  memcpy(c->set, "default", 8);
  c->max_bytes_per_exec = 256ull << 20; /* llvm-readelf's sets are 66 MiB: 64M left 15-19 faults */
  c->bytes_per_second = 256ull << 20;
  c->burst_bytes = 512ull << 20;
  c->skip_resident = 0; /* see elfprefetchd.conf: every request is checked for residency anyway */
  c->residency = 1;
  c->ignore_unstamped = 1;
  c->ignore_seconds = 300;
  c->recheck_seconds = 5;
  c->nice = 19;
  snprintf(c->note_cache, sizeof c->note_cache, "%s", EPFD_DEFAULT_NOTE_CACHE);
  c->note_cache_on = 1;
  c->note_cache_bytes = 2ull << 20;
}

static int fail(char *err, unsigned errlen, const char *path, unsigned line, const char *fmt, ...) {
  int n = line ? snprintf(err, errlen, "%s:%u: ", path, line) : snprintf(err, errlen, "%s: ", path);
  if (n < 0 || (unsigned)n >= errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + n, errlen - (unsigned)n, fmt, ap);
  va_end(ap);
  return -1;
}

/* "123", "64K", "64M", "1G" (binary units); 0 on success. */
static int parse_size(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v || v[0] == '-') return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10, end++;
  else if (*end == 'M' || *end == 'm') shift = 20, end++;
  else if (*end == 'G' || *end == 'g') shift = 30, end++;
  if (*end || (shift && n > (~0ull >> shift))) return -1;
  *out = (uint64_t)n << shift;
  return 0;
}

/* A decimal integer from lo to hi; 0 on success. */
static int parse_long(const char *v, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || *end || end == v || n < lo || n > hi) return -1;
  *out = n;
  return 0;
}

static int parse_bool(const char *v, int *out) {
  if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
  else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) *out = 0;
  else return -1;
  return 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* An absolute path without "." or ".." components, at most `cap` bytes. */
static int good_path(const char *v, size_t cap) {
  if (v[0] != '/' || strlen(v) > cap) return 0;
  for (const char *p = v; (p = strchr(p, '/')); p++)
    if ((p[1] == '.' && (p[2] == '/' || !p[2])) || (p[1] == '.' && p[2] == '.' && (p[3] == '/' || !p[3]))) return 0;
  return 1;
}

static int set_key(struct epfd_config *c, int *marks_given, const char *k, const char *v, const char *path, unsigned line, char *err, unsigned errlen) {
  if (!strcmp(k, "mode")) {
    if (!strcmp(v, "notify")) c->mode = EPFD_NOTIFY;
    else if (!strcmp(v, "permission")) c->mode = EPFD_PERMISSION;
    else return fail(err, errlen, path, line, "mode must be notify or permission, not \"%s\"", v);
  } else if (!strcmp(k, "filesystem") || !strcmp(k, "mount")) {
    if (!*marks_given) c->marks = 0; /* the first one replaces the default */
    *marks_given = 1;
    if (c->marks >= EPFD_MAX_MARKS) return fail(err, errlen, path, line, "more than %u file systems and mounts", EPFD_MAX_MARKS);
    if (!good_path(v, EPFD_MAX_MARK_PATH)) return fail(err, errlen, path, line, "%s must be an absolute path without . or .. (at most %u bytes)", k, EPFD_MAX_MARK_PATH);
    c->mark[c->marks].mount = k[0] == 'm';
    snprintf(c->mark[c->marks].path, sizeof c->mark[0].path, "%s", v);
    c->marks++;
  } else if (!strcmp(k, "sidecar")) {
    if (!strcmp(v, "none")) c->sidecar[0] = 0;
    else if (!good_path(v, EPF_MAX_SIDECAR_DIR)) return fail(err, errlen, path, line, "sidecar must be an absolute directory (at most %u bytes) or none", EPF_MAX_SIDECAR_DIR);
    else snprintf(c->sidecar, sizeof c->sidecar, "%s", v);
  } else if (!strcmp(k, "set")) {
    size_t n = strlen(v);
    if (n < 1 || n > EPF_MAX_SET_NAME) return fail(err, errlen, path, line, "set must be 1 to %u bytes", EPF_MAX_SET_NAME);
    memcpy(c->set, v, n + 1);
  } else if (!strcmp(k, "device")) {
    if (!strcmp(v, "auto")) c->device = 0;
    else if (!(c->device = epf_device_by_name(v))) return fail(err, errlen, path, line, "device must be auto, hdd, ssd, nvme or net, not \"%s\"", v);
  } else if (!strcmp(k, "note-cache")) {
    c->note_cache_on = strcmp(v, "none") != 0;
    if (!strcmp(v, "memory") || !strcmp(v, "none")) c->note_cache[0] = 0;
    else if (!good_path(v, EPFD_MAX_MARK_PATH)) return fail(err, errlen, path, line, "note-cache must be an absolute file name (at most %u bytes), memory or none", EPFD_MAX_MARK_PATH);
    else snprintf(c->note_cache, sizeof c->note_cache, "%s", v);
  } else if (!strcmp(k, "max-bytes-per-exec") || !strcmp(k, "bytes-per-second") || !strcmp(k, "burst-bytes") || !strcmp(k, "note-cache-bytes")) {
    uint64_t n;
    if (parse_size(v, &n) != 0) return fail(err, errlen, path, line, "%s must be a size such as 65536, 64K, 64M or 1G, not \"%s\"", k, v);
    if (k[0] == 'n' && (n == 0 || n > (64ull << 20))) return fail(err, errlen, path, line, "note-cache-bytes must be 1 to 64M, not \"%s\"", v);
    if (k[0] == 'm') c->max_bytes_per_exec = n;
    else if (k[0] == 'n') c->note_cache_bytes = n;
    else if (k[0] == 'b' && k[1] == 'y') c->bytes_per_second = n;
    else c->burst_bytes = n;
  } else if (!strcmp(k, "nice")) {
    long n;
    if (parse_long(v, -20, 19, &n) != 0) return fail(err, errlen, path, line, "nice must be -20 to 19, not \"%s\"", v);
    c->nice = (int)n;
  } else if (!strcmp(k, "ignore-unstamped")) {
    if (parse_bool(v, &c->ignore_unstamped) != 0) return fail(err, errlen, path, line, "ignore-unstamped must be yes or no, not \"%s\"", v);
  } else if (!strcmp(k, "ignore-seconds")) {
    long n;
    if (parse_long(v, 1, 86400, &n) != 0) return fail(err, errlen, path, line, "ignore-seconds must be 1 to 86400, not \"%s\"", v);
    c->ignore_seconds = (unsigned)n;
  } else if (!strcmp(k, "recheck-seconds")) {
    long n;
    if (parse_long(v, 0, 3600, &n) != 0) return fail(err, errlen, path, line, "recheck-seconds must be 0 to 3600, not \"%s\"", v);
    c->recheck_seconds = (unsigned)n;
  } else if (!strcmp(k, "residency")) {
    if (parse_bool(v, &c->residency) != 0) return fail(err, errlen, path, line, "residency must be yes or no, not \"%s\"", v);
  } else if (!strcmp(k, "skip-resident")) {
    if (parse_bool(v, &c->skip_resident) != 0) return fail(err, errlen, path, line, "skip-resident must be yes or no, not \"%s\"", v);
  } else {
    return fail(err, errlen, path, line, "unknown key \"%s\"", k);
  }
  return 0;
}

int epfd_config_load(struct epfd_config *c, const char *path, char *err, unsigned errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(err, errlen, path, 0, "%s", errno == ELOOP ? "a symbolic link (not followed)" : strerror(errno));
  struct stat st;
  static char text[MAX_CONFIG_BYTES + 1];
  ssize_t got = -1;
  const char *why = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) why = "not a regular file";
  else if (st.st_uid != 0) why = "not owned by root";
  else if (st.st_mode & (S_IWGRP | S_IWOTH)) why = "writable by group or others";
  else if (st.st_size > (off_t)MAX_CONFIG_BYTES) why = "longer than 64 KiB";
  else if ((got = read(fd, text, MAX_CONFIG_BYTES)) < 0) why = strerror(errno);
  close(fd);
  if (why) return fail(err, errlen, path, 0, "%s", why);
  text[got] = 0;
  if (memchr(text, 0, (size_t)got)) return fail(err, errlen, path, 0, "contains a NUL byte");
  int marks_given = 0;
  unsigned line = 0;
  for (char *s = text, *next; s && *s; s = next) {
    line++;
    next = strchr(s, '\n');
    if (next) *next++ = 0;
    char *hash = strchr(s, '#');
    if (hash) *hash = 0;
    s = trim(s);
    if (!*s) continue;
    char *eq = strchr(s, '=');
    if (!eq) return fail(err, errlen, path, line, "expected key = value");
    *eq = 0;
    char *k = trim(s), *v = trim(eq + 1);
    if (!*v) return fail(err, errlen, path, line, "%s has no value", k);
    if (set_key(c, &marks_given, k, v, path, line, err, errlen) != 0) return -1;
  }
  if (c->burst_bytes < c->max_bytes_per_exec) c->burst_bytes = c->max_bytes_per_exec;
  return 0;
}
