/* rate_identifier.h — the grammar of the "identifier" of quota and spikeArrest (what is counted separately),
 * shared by the controller and the data plane (docs/policy-traffic.md):
 *   (absent) | "apikey" | "client_ip" | "claim:NAME" | "jwt:NAME" (the same as claim:) | "header:NAME"
 * with NAME 1 to 256 RFC 9110 token characters. What each one reads from a request is the data plane's
 * dataplane/src/traffic_identifier.h. */
#ifndef TG_RATE_IDENTIFIER_H
#define TG_RATE_IDENTIFIER_H

#include <stddef.h>

enum tg_ident_kind { TG_IDENT_ALL = 0, TG_IDENT_APIKEY, TG_IDENT_CLIENT_IP, TG_IDENT_CLAIM, TG_IDENT_HEADER };

struct tg_identifier {
    enum tg_ident_kind kind;
    char name[257]; /* claim or header name */
};

/* Parses the identifier string; spec NULL means ALL. 0, or -1 with a reason in err. */
int tg_identifier_parse(const char *spec, struct tg_identifier *out, char *err, size_t err_size);
/* The canonical spelling of a parsed identifier ("claim:sub" for "jwt:sub"); NULL for ALL. */
const char *tg_identifier_canonical(const struct tg_identifier *id, char *buf, size_t size);

#endif
