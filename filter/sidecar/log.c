/* log.c - JSON lines on stderr (see log.h). */
#include "sidecar/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "providers/codec.h"

static atomic_int log_level = WR_LOG_INFO;

void wr_log_set_level(int level) { atomic_store(&log_level, level); }
int wr_log_enabled(int level) { return level >= atomic_load(&log_level); }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void wr_log(int level, const char *msg, ...)
{
    if (!wr_log_enabled(level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    wr_buf b;
    wr_buf_init(&b);
    wr_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts,
                  level_names[level < 0 ? 0 : level > 3 ? 3 : level]);
    wr_json_quote(&b, msg, strlen(msg));
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        wr_buf_puts(&b, ",");
        wr_json_quote(&b, k, strlen(k));
        wr_buf_puts(&b, ":");
        if (v)
            wr_json_quote(&b, v, strlen(v));
        else
            wr_buf_puts(&b, "null");
    }
    va_end(ap);
    wr_buf_puts(&b, "}\n");
    if (b.data) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    wr_buf_free(&b);
}
