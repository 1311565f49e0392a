/* cors_origin.h — CORS origins (RFC 6454 §6.2 serialization: scheme "://" host [":" port]) and the allowOrigins
 * patterns of the cors policy.
 *
 * A pattern is "*" (any origin, "null" included), an origin ("https://app.example.com", "http://127.0.0.1:8080",
 * "https://[2001:db8::1]"), or an origin whose host starts with one "*." label (https with host *.example.com), which
 * matches every host below the rest at any depth (a.example.com, a.b.example.com) but not example.com itself,
 * with the same scheme and port. Only http and https; no path, query, fragment or userinfo. Scheme and host
 * compare ASCII case-insensitively; a default port (80 for http, 443 for https) is the same as none. */
#ifndef TG_CORS_ORIGIN_H
#define TG_CORS_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

struct tg_origin {
    int https;        /* 0: http */
    char host[256];   /* lower case; an IPv6 literal keeps its brackets */
    uint16_t port;    /* 0: the scheme's default */
};

struct tg_origin_pattern {
    int any;          /* "*" */
    int wildcard;     /* host is the suffix after "*." */
    struct tg_origin origin;
};

/* Parses a serialized origin (len bytes). 0, or -1 with a static reason in *why (why may be NULL). */
int tg_origin_parse(const char *s, size_t len, struct tg_origin *out, const char **why);
/* Parses an allowOrigins entry. 0, or -1 with a static reason in *why. */
int tg_origin_pattern_parse(const char *s, struct tg_origin_pattern *out, const char **why);
/* 1 when the request's Origin value (len bytes, as received) is allowed by p. "null" matches only "*". */
int tg_origin_pattern_match(const struct tg_origin_pattern *p, const char *origin, size_t len);

#endif
