#include <string.h>

#include "buf.h"
#include "maps.h"

static const char *hexnum(const char *s, uint64_t *v) {
  uint64_t x = 0;
  for (;; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (*s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
    else break;
    x = x * 16 + (uint64_t)d;
  }
  *v = x;
  return s;
}

int next_mapping(const char **cur, struct mapping *m) {
  const char *s = *cur;
  if (!*s) return 0;
  const char *eol = strchr(s, '\n');
  if (!eol) eol = s + strlen(s);
  uint64_t v;
  s = hexnum(s, &m->start);
  s = hexnum(s + 1, &m->end);
  s++;
  for (int i = 0; i < 4; i++) m->perms[i] = *s ? *s++ : '-';
  m->perms[4] = 0;
  s = hexnum(s + 1, &m->pgoff);
  s = hexnum(s + 1, &v);
  m->dev_major = (unsigned)v;
  s = hexnum(s + 1, &v);
  m->dev_minor = (unsigned)v;
  while (*s == ' ') s++;
  m->ino = parse_u64(s);
  while (s < eol && *s != ' ') s++;
  while (s < eol && *s == ' ') s++;
  m->path = s;
  m->path_len = (size_t)(eol - s);
  *cur = *eol ? eol + 1 : eol;
  return 1;
}

int is_file_mapping(const struct mapping *m) {
  static const char deleted[] = " (deleted)";
  size_t dl = sizeof deleted - 1;
  if (m->ino == 0 || m->path_len == 0 || m->path[0] != '/') return 0;
  if (m->path_len > dl && memcmp(m->path + m->path_len - dl, deleted, dl) == 0) return 0;
  return 1;
}

static int same_file(const struct mapping *a, const struct mapping *b) {
  return a->ino == b->ino && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

int next_run(const char **cur, struct run *r) {
  struct mapping m, last;
  const char *line = *cur;
  for (;;) { /* the first file mapping */
    if (!next_mapping(cur, &m)) return 0;
    if (is_file_mapping(&m)) break;
    line = *cur;
  }
  r->text = line;
  r->count = 1;
  r->lo = m.start;
  r->hi = m.end;
  r->first = last = m;
  for (const char *peek = *cur; next_mapping(&peek, &m); *cur = peek) {
    /* a gap ld.so left PROT_NONE may share its offset with the next segment; a new copy restarts */
    if (!is_file_mapping(&m) || !same_file(&m, &r->first) || m.pgoff < last.pgoff || m.pgoff == r->first.pgoff) break;
    r->count++;
    r->hi = m.end;
    last = m;
  }
  return 1;
}

int run_at(const char *maps, uint64_t addr, struct run *r) {
  const char *cur = maps;
  while (next_run(&cur, r))
    if (r->lo <= addr && addr < r->hi) return 1;
  return 0;
}
