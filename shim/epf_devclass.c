/* The device class of a file's device (epf_devclass.h). */
#define _GNU_SOURCE
#include "epf_devclass.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "epf_file.h"

/* A small sysfs file into buf, NUL-terminated, without its trailing newline; its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int f = epf_open_ro(path, 0);
  if (f < 0) return -1;
  ssize_t n = read(f, buf, cap - 1);
  close(f);
  if (n < 0) return -1;
  while (n > 0 && buf[n - 1] == '\n') n--;
  buf[n] = 0;
  return n;
}

/* "/sys/dev/block/MAJ:MIN" and a tail: 15 + 10 + 1 + 10 + at most 24 ("/../queue/max_sectors_kb") + NUL. */
#define SYS_BLOCK_MAX 64

static char *put_str(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}

static void sys_block(char *p, unsigned maj, unsigned min, const char *tail) {
  char t[10];
  int i = 0;
  p = put_str(p, "/sys/dev/block/");
  do t[i++] = (char)('0' + maj % 10), maj /= 10;
  while (maj);
  while (i) *p++ = t[--i];
  *p++ = ':';
  do t[i++] = (char)('0' + min % 10), min /= 10;
  while (min);
  while (i) *p++ = t[--i];
  *put_str(p, tail) = 0;
}

/* NFS, CIFS, SMB2, FUSE, 9p, Ceph, GFS2. */
const unsigned long epf_network_fs_types[EPF_NETWORK_FS_COUNT] = {0x6969, 0xFF534D42ul, 0xFE534D42ul, 0x65735546, 0x01021997, 0x00c36400, 0x47504653};

int epf_network_fs(unsigned long t) {
  for (int i = 0; i < EPF_NETWORK_FS_COUNT; i++)
    if (t == epf_network_fs_types[i]) return 1;
  return 0;
}

/* Why a class was chosen, which says the class too; PICK_LOOP: through a loop device. A pick fits a byte. */
enum { WHY_UNKNOWN = 1, WHY_NETWORK, WHY_NONROT, WHY_VIRTIO, WHY_ROT, WHY_COUNT };
#define PICK_LOOP 8
static const struct {
  int dev;
  const char *why;
} whys[WHY_COUNT] = {
    [WHY_UNKNOWN] = {EPF_DEV_SSD, "unknown device"},
    [WHY_NETWORK] = {EPF_DEV_NET, "network file system"},
    [WHY_NONROT] = {EPF_DEV_SSD, "non-rotational"},
    [WHY_VIRTIO] = {EPF_DEV_SSD, "virtio disk, its rotational flag says nothing"},
    [WHY_ROT] = {EPF_DEV_HDD, "rotational"},
};

/* A decimal sysfs value, at most 2^31 (no limit that matters here is larger); 0 when it cannot be read. */
static uint64_t read_u64(const char *path) {
  char buf[32];
  if (read_small(path, buf, sizeof buf) < 1) return 0;
  uint64_t v = 0;
  for (const char *c = buf; *c >= '0' && *c <= '9' && v < (1ull << 31); c++) v = v * 10 + (uint64_t)(*c - '0');
  return v < (1ull << 31) ? v : 1ull << 31;
}

/*
 * The largest request queue MAJ:MIN takes (a partition's queue is its parent's): its
 * max_sectors_kb, in bytes; 0 when the queue does not say. A larger read is always split, and the
 * kernel reads at most max(max_sectors_kb, read_ahead_kb) of a readahead call and drops the rest.
 * max_segments x max_segment_size limits a request too, but is far above it in practice (8 MiB
 * on a loop device, 254 x 4 GiB on this VM's virtio disk) and is not read: each sysfs file costs
 * a warm start 15-20 us (docs/BENCHMARKS.md, "Requests the device takes unsplit"). With pages
 * scattered in memory a request is split past max_segments x 4 KiB (512 KiB on the benchmark's
 * loop device); that worst case is not the cap: planned with it, node's start was 100 device
 * requests in every run, with 1 MiB requests 63 to 101 (its pages were often contiguous).
 */
static uint64_t queue_cap(unsigned maj, unsigned min) {
  static const char *const tails[2] = {"/queue/max_sectors_kb", "/../queue/max_sectors_kb"};
  char p[SYS_BLOCK_MAX];
  for (int k = 0; k < 2; k++) {
    sys_block(p, maj, min, tails[k]);
    uint64_t kb = read_u64(p);
    if (kb) return kb << 10;
  }
  return 0;
}

/*
 * The class of block device MAJ:MIN, and in *cap the smallest request cap of the devices on the
 * way (queue_cap; 0: none said). A loop device is what its backing file lies on (the loop's
 * own rotational flag is copied from there at set-up, or is a default), followed up to 4 loops
 * deep; a read through it is split by its queue and again by its backing device's. A virtio
 * disk's rotational flag is the driver's default (1) whatever the host has, and such disks are
 * nearly always SSD or network storage: ssd. Else the rotational flag (a partition's is its
 * parent's): 1 hdd, 0 ssd; ssd when nothing says. A loop, not a recursion: the stack stays one
 * frame deep.
 */
static int block_class(unsigned maj, unsigned min, uint64_t *cap) {
  char p[SYS_BLOCK_MAX], buf[512];
  int loop = 0;
  *cap = 0;
  for (int depth = 0;; depth++) {
    uint64_t c = queue_cap(maj, min);
    if (c && (!*cap || c < *cap)) *cap = c;
    if (depth == 4) break;
    sys_block(p, maj, min, "/loop/backing_file");
    struct stat b;
    if (read_small(p, buf, sizeof buf) <= 0 || buf[0] != '/' || stat(buf, &b) != 0) break;
    loop = PICK_LOOP;
    if (major(b.st_dev) == 0) {
      struct statfs fs;
      return (statfs(buf, &fs) == 0 && epf_network_fs((unsigned long)fs.f_type) ? WHY_NETWORK : WHY_UNKNOWN) | loop;
    }
    maj = major(b.st_dev);
    min = minor(b.st_dev);
  }
  const char *tails[2] = {"/queue/rotational", "/../queue/rotational"};
  for (int k = 0; k < 2; k++) {
    sys_block(p, maj, min, tails[k]);
    if (read_small(p, buf, sizeof buf) < 1) continue;
    if (buf[0] != '1') return WHY_NONROT | loop;
    sys_block(p, maj, min, "");
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      if (strstr(buf, "/virtio")) return WHY_VIRTIO | loop;
    }
    return WHY_ROT | loop;
  }
  return WHY_UNKNOWN | loop;
}

/*
 * The picks of the last few devices, for the process (a program on one device and its libraries
 * on another is common: with one slot, the daemon read /sys again for every library). Each slot
 * holds the device number, the cap and the pick in one word, so a thread never sees one without
 * the others (an atomic: a lock could block a dlopen). Where 8-byte atomics are not lock-free, or
 * the device number does not fit (Linux's have 12 + 20 bits), every file's device is looked at.
 */
#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE == 2
#define EPF_DEVCLASS_CACHE 1
#define EPF_DEVCLASS_SLOTS 8
static uint64_t cached[EPF_DEVCLASS_SLOTS]; /* major << 44 | minor << 20 | cap / 4 KiB << 8 | pick; 0: nothing yet */
#endif

void epf_devclass_forget(void) {
#ifdef EPF_DEVCLASS_CACHE
  for (int i = 0; i < EPF_DEVCLASS_SLOTS; i++) __atomic_store_n(&cached[i], 0, __ATOMIC_RELAXED);
#endif
}

struct epf_devpick epf_device_for(const struct epf_options *o, int fd, const struct stat *st) {
  uint64_t maj = major(st->st_dev), min = minor(st->st_dev), key = maj << 44 | min << 20;
  int pick = 0;
  uint32_t cap = 0;
#ifdef EPF_DEVCLASS_CACHE
  int cacheable = maj < (1u << 20) && min < (1u << 24);
  uint64_t *slot = &cached[(maj * 31 + min) % EPF_DEVCLASS_SLOTS];
  uint64_t c = __atomic_load_n(slot, __ATOMIC_RELAXED);
  if (cacheable && c && (c & ~(uint64_t)0xfffff) == key) {
    pick = (int)(c & 0xff);
    cap = (uint32_t)((c >> 8) & 0xfff) << 12;
  }
#endif
  if (!pick) {
    uint64_t raw = 0;
    if (maj == 0) {
      /* An anonymous device: network and FUSE file systems count as net. No queue: no cap. */
      struct statfs fs;
      pick = fstatfs(fd, &fs) == 0 && epf_network_fs((unsigned long)fs.f_type) ? WHY_NETWORK : WHY_UNKNOWN;
    } else {
      pick = block_class((unsigned)maj, (unsigned)min, &raw);
    }
    cap = epf_plan_cap(raw);
#ifdef EPF_DEVCLASS_CACHE
    if (cacheable) __atomic_store_n(slot, key | (uint64_t)(cap >> 12) << 8 | (uint64_t)pick, __ATOMIC_RELAXED);
#endif
  }
  if (o->device) return (struct epf_devpick){o->device, 0, 0, cap};
  int why = pick & (PICK_LOOP - 1);
  return (struct epf_devpick){&epf_devices[whys[why].dev], whys[why].why, (pick & PICK_LOOP) != 0, cap};
}
