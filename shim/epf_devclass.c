/* The device class of a file's device (epf_devclass.h). */
#define _GNU_SOURCE
#include "epf_devclass.h"

#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "epf_line.h"

/* A small sysfs file into buf, NUL-terminated, without its trailing newline; its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return -1;
  ssize_t n = read(f, buf, cap - 1);
  close(f);
  if (n < 0) return -1;
  while (n > 0 && buf[n - 1] == '\n') n--;
  buf[n] = 0;
  return n;
}

static void sys_block(struct epf_line *p, unsigned maj, unsigned min, const char *tail) {
  p->n = 0;
  epf_put(p, "/sys/dev/block/");
  epf_put_u64(p, maj);
  epf_put(p, ":");
  epf_put_u64(p, min);
  epf_put(p, tail);
  p->b[p->n] = 0;
}

/* NFS, CIFS/SMB (two), FUSE, 9p, Ceph, GFS2. */
static int network_fs(unsigned long t) {
  return t == 0x6969 || t == 0xFF534D42ul || t == 0xFE534D42ul || t == 0x65735546 || t == 0x01021997 || t == 0x00c36400 || t == 0x47504653;
}

/*
 * The class of block device MAJ:MIN. A loop device is what its backing file lies on (the loop's
 * own rotational flag is copied from there at set-up, or is a default). A virtio disk's
 * rotational flag is the driver's default (1) whatever the host has, and such disks are
 * nearly always SSD or network storage: ssd. Else the rotational flag (a partition's is its
 * parent's): 1 hdd, 0 ssd; ssd when nothing says.
 */
static struct epf_devpick block_class(unsigned maj, unsigned min, int depth) {
  struct epf_line p;
  char buf[512];
  sys_block(&p, maj, min, "/loop/backing_file");
  if (depth < 4 && read_small(p.b, buf, sizeof buf) > 0 && buf[0] == '/') {
    struct stat b;
    struct statfs fs;
    if (stat(buf, &b) == 0) {
      struct epf_devpick d = {&epf_devices[EPF_DEV_SSD], "unknown device", 1};
      if (major(b.st_dev) != 0) d = block_class(major(b.st_dev), minor(b.st_dev), depth + 1);
      else if (statfs(buf, &fs) == 0 && network_fs((unsigned long)fs.f_type)) d = (struct epf_devpick){&epf_devices[EPF_DEV_NET], "network file system", 0};
      d.loop = 1;
      return d;
    }
  }
  const char *tails[2] = {"/queue/rotational", "/../queue/rotational"};
  for (int k = 0; k < 2; k++) {
    sys_block(&p, maj, min, tails[k]);
    if (read_small(p.b, buf, sizeof buf) < 1) continue;
    if (buf[0] != '1') return (struct epf_devpick){&epf_devices[EPF_DEV_SSD], "non-rotational", 0};
    sys_block(&p, maj, min, "");
    ssize_t n = readlink(p.b, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      if (strstr(buf, "/virtio")) return (struct epf_devpick){&epf_devices[EPF_DEV_SSD], "virtio disk, its rotational flag says nothing", 0};
    }
    return (struct epf_devpick){&epf_devices[EPF_DEV_HDD], "rotational", 0};
  }
  return (struct epf_devpick){&epf_devices[EPF_DEV_SSD], "unknown device", 0};
}

/* The device class of the file's device: ELFPREFETCH_DEVICE, else what the system says. */
struct epf_devpick epf_device_for(const struct epf_options *o, int fd, const struct stat *st) {
  static uint64_t cached_dev;
  static struct epf_devpick cached;
  if (o->device) return (struct epf_devpick){o->device, 0, 0};
  if (cached.dev && cached_dev == (uint64_t)st->st_dev) return cached;
  struct epf_devpick d = {&epf_devices[EPF_DEV_SSD], "unknown device", 0};
  if (major(st->st_dev) == 0) {
    /* An anonymous device: network and FUSE file systems count as net. */
    struct statfs fs;
    if (fstatfs(fd, &fs) == 0 && network_fs((unsigned long)fs.f_type)) d = (struct epf_devpick){&epf_devices[EPF_DEV_NET], "network file system", 0};
  } else {
    d = block_class(major(st->st_dev), minor(st->st_dev), 0);
  }
  cached_dev = st->st_dev;
  cached = d;
  return d;
}
