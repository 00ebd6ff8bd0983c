/*
 * elfprefetchd's note cache: the notes of the programs it has prefetched, by file identity, kept
 * in memory and in a file across restarts (docs/DAEMON.md, "The note cache"). With it, the exec
 * of a program seen before issues its requests without reading its note: on a cold start that
 * read is a cold read the program's own first faults would queue behind (notification events do
 * not make the exec wait). The identity is the file system's id, the inode, the size, and the
 * modification and change times to the nanosecond: any write, rename over or chmod changes the
 * change time, which utimensat cannot set back (docs/DAEMON.md says what that is worth).
 */
#ifndef EPFD_NOTECACHE_H
#define EPFD_NOTECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "checked.h"

struct epfd_note_entry;

struct epfd_note_cache {
  struct epfd_note_entry *e; /* `count` used of `cap` */
  uint32_t count, cap;
  uint64_t bytes, max_bytes; /* note bytes held, and the most it may hold */
  uint64_t clock;            /* for least-recently-used eviction */
  int dirty;                 /* changed since it was last saved */
  struct epfd_checked libs;  /* the libraries checked before, saved in the same file */
};

/* An empty cache holding at most max_bytes of notes (0: none at all), and no library. */
void epfd_notes_init(struct epfd_note_cache *c, uint64_t max_bytes);
void epfd_notes_free(struct epfd_note_cache *c);

/* The note kept for k, or NULL. */
const uint8_t *epfd_notes_find(struct epfd_note_cache *c, const struct epfd_file_key *k, size_t *len);

/* Keeps a copy of a usable note for k, evicting the least recently used ones to stay in bounds. */
void epfd_notes_keep(struct epfd_note_cache *c, const struct epfd_file_key *k, const uint8_t *desc, size_t len);

/* Whether its notes or its libraries changed since it was last loaded or saved. */
int epfd_notes_changed(const struct epfd_note_cache *c);

/* Forgets the note kept for k, if any. */
void epfd_notes_forget(struct epfd_note_cache *c, const struct epfd_file_key *k);

/*
 * Loads the file at path into c (which holds nothing yet). A missing file is an empty cache. A
 * file that is not a root-owned regular file writable by no one else, or is not one the daemon
 * wrote (magic, version, checksum, bounds), is not used: returns -1 with why in err. Entries over
 * c's bound are dropped.
 */
int epfd_notes_load(struct epfd_note_cache *c, const char *path, char *err, unsigned errlen);

/* Writes c to path atomically (a new file renamed over it, mode 0600). Returns 0 or -1 with err. */
int epfd_notes_save(struct epfd_note_cache *c, const char *path, char *err, unsigned errlen);

#endif
