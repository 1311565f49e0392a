/* host_port.h — strict "HOST:PORT" parsing for addresses of services the gateway talks to (Redis for
 * distributed quotas): HOST is a DNS name (letters, digits, hyphens and dots, not starting or ending with a
 * hyphen or dot, at most 253 characters) or an IPv4 literal, or an IPv6 literal in brackets ("[2001:db8::1]:6379");
 * PORT is 1-65535 in decimal without leading zeros. Also the one check of a lower-case host name (route hostnames,
 * SNI names). */
#ifndef TG_HOST_PORT_H
#define TG_HOST_PORT_H

#include <stdint.h>

#define TG_HOST_MAX 253

/* Parses s into host[TG_HOST_MAX + 1] (without brackets) and *port. 0, or -1 with a static reason in *why. */
int tg_host_port_parse(const char *s, char *host, uint16_t *port, const char **why);

/* 1 when h is an RFC 1123 host name in lower case: dot-separated labels of 1-63 letters, digits and hyphens, not
 * starting or ending with a hyphen, at most 253 characters; with allow_wildcard, optionally "*." + such a name. */
int tg_host_name_ok(const char *h, int allow_wildcard);

#endif
