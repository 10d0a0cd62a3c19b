/* core/src/base/log.h — one JSON object per line: the access log, operator
 * events, the start-up line. Base layer: knows no request, no config. */
#ifndef BFF_BASE_LOG_H
#define BFF_BASE_LOG_H

#include <stddef.h>

/* The fields of one access-log line; NULL strings are written as null. */
struct log_access_line {
    const char *request_id, *trace_id, *method, *path, *route;
    int         status;
    double      duration_ms;
    const char *user_id, *client, *upstream;
    size_t      bytes_in, bytes_out;
};

void log_access(const struct log_access_line *l);
/* One JSON line for operators: level "info"/"warn"/"error", a message. */
void log_event(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The start-up line on stderr, {"msg":"listening","listen":…,"admin":…}
 * with the bound addresses (@admin NULL: off), for whoever waits for the
 * ports (a port of 0 in the config is only known here). */
void log_listening(const char *listen, const char *admin);

#endif
