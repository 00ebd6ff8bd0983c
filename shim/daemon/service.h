/*
 * How elfprefetchd talks to whoever runs it: log lines (stderr in the foreground, which systemd
 * puts in the journal; syslog in the background) and systemd's notification socket.
 */
#ifndef EPFD_SERVICE_H
#define EPFD_SERVICE_H

/* Log to syslog from now on (after the daemon left the terminal). */
void epfd_log_to_syslog(void);
/* "elfprefetchd: ..." on stderr, or to syslog at `priority` (LOG_ERR, LOG_WARNING, LOG_INFO). */
void epfd_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sd_notify(3) without libsystemd: "READY=1", "RELOADING=1", "STOPPING=1", "WATCHDOG=1". Does
 * nothing unless $NOTIFY_SOCKET is set. */
void epfd_notify(const char *state);
/* The watchdog interval systemd asks for ($WATCHDOG_USEC), in milliseconds; 0 for none. */
int epfd_watchdog_ms(void);

#endif
