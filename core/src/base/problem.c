/* core/src/base/problem.c — RFC 9457 problem+json, written in one place */
#include <stdio.h>
#include <string.h>

#include "base/problem.h"

const char *bff_status_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    if (status >= 500)
        return "Server Error";
    if (status >= 400)
        return "Client Error";
    return "Unknown";
}

size_t json_escape(char *out, size_t cap, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char          tmp[7];
        size_t        n;
        if (ch == '"' || ch == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)ch;
            n = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hex[ch >> 4];
            tmp[5] = hex[ch & 15];
            n = 6;
        } else {
            tmp[0] = (char)ch;
            n = 1;
        }
        if (len + n + 1 > cap)
            return cap;
        memcpy(out + len, tmp, n);
        len += n;
    }
    if (len < cap)
        out[len] = '\0';
    return len;
}

char *problem_body(struct bff_arena *a, int status, const char *detail,
                   const char *instance, const char *request_id, size_t *len)
{
    char   buf[2048];
    size_t n = 0;

    n = (size_t)snprintf(buf, sizeof(buf),
                         "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,"
                         "\"detail\":\"",
                         bff_status_title(status), status);
    n = json_escape(buf, sizeof(buf) - 512, n, detail ? detail : "");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\",\"instance\":\"");
    n = json_escape(buf, sizeof(buf) - 200, n, instance ? instance : "");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\",\"request_id\":\"");
    n = json_escape(buf, sizeof(buf) - 4, n, request_id ? request_id : "");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"}");
    *len = n;
    return bff_arena_strndup(a, buf, n);
}
