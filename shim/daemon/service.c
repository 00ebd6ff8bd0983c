/* Logging and systemd notification for elfprefetchd: see service.h. */
#define _GNU_SOURCE
#include "service.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

static int use_syslog;

void epfd_log_to_syslog(void) {
  openlog("elfprefetchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  use_syslog = 1;
}

void epfd_log(int priority, const char *fmt, ...) {
  int saved = errno;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (use_syslog) {
    syslog(priority, "%s", msg);
  } else {
    /* One write per line, so lines from the core's diagnostics never interleave with ours. */
    char line[1100];
    int n = snprintf(line, sizeof line, "elfprefetchd: %s\n", msg);
    if (n > 0) {
      ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
      (void)w;
    }
  }
  errno = saved;
}

void epfd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t n = strlen(path);
  memcpy(addr.sun_path, path, n);
  if (path[0] == '@') addr.sun_path[0] = 0; /* an abstract socket */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
  (void)w;
  close(fd);
}

int epfd_watchdog_ms(void) {
  const char *v = getenv("WATCHDOG_USEC");
  if (!v) return 0;
  long long us = atoll(v);
  if (us <= 0) return 0;
  return us / 1000 > 0x7fffffff ? 0x7fffffff : (int)(us / 1000);
}
