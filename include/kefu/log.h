/* SPDX-License-Identifier: MIT
 * One-line log records on stderr: time, level, message. */
#ifndef KEFU_LOG_H
#define KEFU_LOG_H

enum { KF_LOG_ERR = 0, KF_LOG_WARN = 1, KF_LOG_INFO = 2, KF_LOG_DEBUG = 3 };

void kf_log_set_level(int level);
int kf_log_get_level(void);
void kf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Called once, before any line, by a thread that logs a line per event (the server's loop):
 * its info and debug lines then wait in a buffer until kf_log_flush(), which it calls once
 * per turn, so a busy turn is one write(). Warnings, errors and other threads' lines are
 * written at once. */
void kf_log_hold(void);
void kf_log_flush(void);

#endif
