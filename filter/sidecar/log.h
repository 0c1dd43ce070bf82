/*
 * log.h - structured JSON logs on stderr, one object per line:
 *   {"ts":"2026-11-26T10:00:00.123Z","level":"info","msg":"listening","upstream":"bedrock",...}
 * Values are strings passed as key/value pairs ending with NULL. Never pass a secret or a
 * matched value. Thread-safe (one write(2) per line).
 */
#ifndef WEIR_SIDECAR_LOG_H
#define WEIR_SIDECAR_LOG_H

enum { WR_LOG_DEBUG = 0, WR_LOG_INFO = 1, WR_LOG_WARN = 2, WR_LOG_ERROR = 3 };

void wr_log_set_level(int level);
int wr_log_enabled(int level);
/** wr_log(WR_LOG_INFO, "listening", "upstream", name, "addr", addr, NULL). */
void wr_log(int level, const char *msg, ...);

#endif
