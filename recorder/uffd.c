#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "sys.h"
#include "uffd.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* Out of the way of programs that expect their low descriptors free (or count them). */
static int high_fd(int fd) {
  struct rlimit rl;
  int base = 900;
  if (r_nofile(&rl) == 0 && rl.rlim_cur < 1024) base = rl.rlim_cur > 64 ? (int)rl.rlim_cur - 32 : 3;
  int hi = r_fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (hi < 0) return fd;
  r_close(fd);
  return hi;
}

int uffd_open(void) {
  /* UFFD_USER_MODE_ONLY: vm.unprivileged_userfaultfd=0 does not matter */
  int fd = r_userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (fd == -EINVAL) fd = r_userfaultfd(O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC};
  if (r_ioctl(fd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) {
    r_close(fd);
    return -1;
  }
  return high_fd(fd);
}

int uffd_register(int fd, uint64_t start, uint64_t end) {
  struct uffdio_register r = {.range = {.start = start, .len = end - start}, .mode = UFFDIO_REGISTER_MODE_WP};
  int rc = r_ioctl(fd, UFFDIO_REGISTER, &r);
  return rc == 0 ? 0 : rc == -EBUSY ? 1 : -1;
}

void zap_file_pages(int pm, const struct mapping *m, uint64_t ps) {
  if (m->perms[3] != 'p') return;
  uint64_t entries[128]; /* small: a fork child may be running on a sigaltstack */
  for (uint64_t a = m->start; a < m->end;) {
    uint64_t n = (m->end - a) / ps;
    if (n > 128) n = 128;
    if (r_pread(pm, entries, n * 8, a / ps * 8) != (long)(n * 8)) return;
    for (uint64_t i = 0; i < n;) {
      if ((entries[i] & (PM_PRESENT | PM_FILE)) != (PM_PRESENT | PM_FILE)) {
        i++;
        continue;
      }
      uint64_t j = i;
      while (j < n && (entries[j] & (PM_PRESENT | PM_FILE)) == (PM_PRESENT | PM_FILE)) j++;
      r_madvise(a + i * ps, (j - i) * ps, MADV_DONTNEED);
      i = j;
    }
    a += n * ps;
  }
}
