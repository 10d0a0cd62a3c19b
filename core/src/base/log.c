/* core/src/base/log.c — one JSON object per line on stdout (the listening line
 * at start-up on stderr)
 *
 * Each line is built in a stack buffer and written with one write(2), so
 * lines from different workers never interleave. A blocked stdout blocks the
 * worker: point stdout at a file or a pipe that is read. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/problem.h"

static size_t put_time(char *buf, size_t cap)
{
    struct timeval tv;
    struct tm      tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    return n;
}

static size_t put_str(char *buf, size_t cap, size_t n, const char *key, const char *v)
{
    if (n >= cap)
        return cap;
    n += (size_t)snprintf(buf + n, cap - n, ",\"%s\":", key);
    if (n >= cap)
        return cap;
    if (!v) {
        n += (size_t)snprintf(buf + n, cap - n, "null");
        return n < cap ? n : cap;
    }
    if (n + 2 >= cap)
        return cap;
    buf[n++] = '"';
    n = json_escape(buf, cap - 2, n, v);
    if (n + 2 >= cap)
        return cap;
    buf[n++] = '"';
    buf[n] = '\0';
    return n;
}

static void emit_to(int fd, char *buf, size_t n, size_t cap)
{
    if (n >= cap - 2)
        n = cap - 3; /* truncated: still one line, still closed */
    buf[n++] = '}';
    buf[n++] = '\n';
    ssize_t w = write(fd, buf, n);
    (void)w;
}

static void emit(char *buf, size_t n, size_t cap)
{
    emit_to(STDOUT_FILENO, buf, n, cap);
}

void log_access(const struct log_access_line *l)
{
    char   buf[4096];
    size_t cap = sizeof(buf) - 4;
    size_t n = (size_t)snprintf(buf, cap, "{\"time\":\"");
    n += put_time(buf + n, cap - n);
    n += (size_t)snprintf(buf + n, cap - n, "\"");
    n = put_str(buf, cap, n, "request_id", l->request_id);
    n = put_str(buf, cap, n, "trace_id", l->trace_id);
    n = put_str(buf, cap, n, "method", l->method);
    n = put_str(buf, cap, n, "path", l->path);
    n = put_str(buf, cap, n, "route", l->route);
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, ",\"status\":%d,\"duration_ms\":%.3f",
                              l->status, l->duration_ms);
    n = put_str(buf, cap, n, "user_id", l->user_id);
    n = put_str(buf, cap, n, "client", l->client);
    n = put_str(buf, cap, n, "upstream", l->upstream);
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, ",\"bytes_in\":%zu,\"bytes_out\":%zu",
                              l->bytes_in, l->bytes_out);
    emit(buf, n < cap ? n : cap, sizeof(buf));
}

void log_event(const char *level, const char *fmt, ...)
{
    char    msg[1536];
    char    buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t cap = sizeof(buf) - 4;
    size_t n = (size_t)snprintf(buf, cap, "{\"time\":\"");
    n += put_time(buf + n, cap - n);
    n += (size_t)snprintf(buf + n, cap - n, "\"");
    n = put_str(buf, cap, n, "level", level);
    n = put_str(buf, cap, n, "msg", msg);
    emit(buf, n < cap ? n : cap, sizeof(buf));
}

void log_listening(const char *listen, const char *admin)
{
    char   buf[1024];
    size_t cap = sizeof(buf) - 4;
    size_t n = (size_t)snprintf(buf, cap, "{\"time\":\"");
    n += put_time(buf + n, cap - n);
    n += (size_t)snprintf(buf + n, cap - n, "\"");
    n = put_str(buf, cap, n, "level", "info");
    n = put_str(buf, cap, n, "msg", "listening");
    n = put_str(buf, cap, n, "listen", listen);
    n = put_str(buf, cap, n, "admin", admin);
    emit_to(STDERR_FILENO, buf, n < cap ? n : cap, sizeof(buf));
}
