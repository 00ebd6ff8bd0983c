/*
 * The device class a file's plan is made for: ELFPREFETCH_DEVICE, else what the system says of
 * the file's device (docs/SHIM.md, "The read plan"; src/readplan/device.ts is the twin).
 */
#ifndef EPF_DEVCLASS_H
#define EPF_DEVCLASS_H

#include <stdint.h>
#include <sys/stat.h>

#include "epf_prefetch.h"

/* A device class and why it was chosen (the debug line says it). */
struct epf_devpick {
  const struct epf_device *dev;
  const char *why; /* 0 when ELFPREFETCH_DEVICE chose it */
  int loop;        /* a loop device: `why` is about its backing file's device */
  uint32_t cap;    /* largest request the device takes (larger: always split), bytes, as epf_plan_cap() keeps it */
};

/* The class (ELFPREFETCH_DEVICE, else detected) and the request cap of the file's device. The cap
 * is read from the queue limits even when the class is forced: sysfs knows them, unlike the class. */
struct epf_devpick epf_device_for(const struct epf_options *o, int fd, const struct stat *st);

/* Whether a statfs f_type is a network or user-space file system (NFS, CIFS/SMB, FUSE, 9p,
 * Ceph, GFS2): their files count as net, and what they report of a file is their server's word. */
int epf_network_fs(unsigned long f_type);
/* Their f_type values, EPF_NETWORK_FS_COUNT of them (src/readplan/device.ts has the same list). */
#define EPF_NETWORK_FS_COUNT 7
extern const unsigned long epf_network_fs_types[EPF_NETWORK_FS_COUNT];

/* Forgets the devices' classes (the daemon, now and then: device numbers are reused, a loop
 * device can be attached to another file). */
void epf_devclass_forget(void);

#endif
