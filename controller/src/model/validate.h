/* validate.h — pure checks of the strings a manifest carries: Kubernetes names, hostnames, base paths,
 * target URLs, IP literals and RFC 3339 timestamps. No allocation; every function returns NULL (valid) or a
 * static English reason suitable for "field: reason" messages, unless noted otherwise. */
#ifndef TG_VALIDATE_H
#define TG_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted base path / path prefix. */
#define TG_MAX_PATH_LEN 1024
/* Buffer size for a normalised hostname (253 characters + NUL, plus room for "*."). */
#define TG_HOSTNAME_BUF 256

/* RFC 1123 label: 1–63 of [a-z0-9-], alphanumeric at both ends. */
const char *tg_check_dns_label(const char *s);
/* RFC 1123 subdomain: ≤ 253 characters, labels as above separated by single dots. */
const char *tg_check_dns_subdomain(const char *s);

/* Lower-cases in into out[TG_HOSTNAME_BUF] and checks it is a DNS name (labels of [a-z0-9-], no trailing dot)
 * or, when allow_wildcard, "*." followed by one. */
const char *tg_normalize_hostname(const char *in, int allow_wildcard, char *out);

/* A proxy base path: starts with "/", no trailing "/" except the root, no empty, "." or ".." segments,
 * only RFC 3986 pchar characters (percent-encodings must be well formed), at most TG_MAX_PATH_LEN bytes. */
const char *tg_check_base_path(const char *p);

/* 1 when s is an IPv4 (dotted quad) or IPv6 literal (no brackets, no zone). */
int tg_is_ip_literal(const char *s);

/* Parses a target URL of the form http[s]://HOST[:PORT][/PATH]: HOST an IPv4 literal, a bracketed IPv6 literal,
 * or "localhost" (→ 127.0.0.1); other names are refused because translation does no DNS (see
 * docs/controller.md). PORT defaults to 80 (443 for https://, which the caller turns into target TLS). PATH becomes the path prefix, "" for none or "/", without a
 * trailing "/", checked like a base path. No userinfo, query or fragment. Fills address[46], *port,
 * prefix[TG_MAX_PATH_LEN + 1]. */
const char *tg_parse_target_url(const char *url, char *address, int *port, char *prefix);

/* RFC 3339 date-time (e.g. 2024-05-01T10:00:00Z, fractions and ±hh:mm offsets accepted) → seconds since the
 * epoch and nanoseconds. Returns 0, or -1 when malformed. */
int tg_parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec);

#endif
