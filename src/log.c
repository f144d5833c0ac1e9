/* SPDX-License-Identifier: MIT
 * Logging to stderr, one line per record. */
#include "kefu/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int log_level = KF_LOG_INFO;
static int held;         /* kf_log_hold(): the holder's info and debug lines wait */
static pthread_t holder; /* the thread that holds them */
static char hold_buf[1 << 16];

void kf_log_hold(void)
{
    holder = pthread_self();
    fflush(stderr);
    if (setvbuf(stderr, hold_buf, _IOFBF, sizeof(hold_buf)) == 0)
        held = 1;
}

void kf_log_flush(void)
{
    fflush(stderr);
}

void kf_log_set_level(int level)
{
    log_level = level;
}

int kf_log_get_level(void)
{
    return log_level;
}

void kf_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > log_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                  names[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
    if (held && (level <= KF_LOG_WARN || !pthread_equal(pthread_self(), holder)))
        fflush(stderr);
}
