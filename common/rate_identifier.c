/* rate_identifier.c — the rate policies' identifier grammar (rate_identifier.h). */
#include "rate_identifier.h"

#include "header_rules.h"

#include <stdio.h>
#include <string.h>

int tg_identifier_parse(const char *spec, struct tg_identifier *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (!spec) {
        out->kind = TG_IDENT_ALL;
        return 0;
    }
    if (strcmp(spec, "apikey") == 0) {
        out->kind = TG_IDENT_APIKEY;
        return 0;
    }
    if (strcmp(spec, "client_ip") == 0) {
        out->kind = TG_IDENT_CLIENT_IP;
        return 0;
    }
    const char *name = NULL;
    if (strncmp(spec, "claim:", 6) == 0) {
        out->kind = TG_IDENT_CLAIM;
        name = spec + 6;
    } else if (strncmp(spec, "jwt:", 4) == 0) {
        out->kind = TG_IDENT_CLAIM;
        name = spec + 4;
    } else if (strncmp(spec, "header:", 7) == 0) {
        out->kind = TG_IDENT_HEADER;
        name = spec + 7;
    } else {
        snprintf(err, err_size, "must be apikey, client_ip, claim:NAME or header:NAME");
        return -1;
    }
    size_t n = strlen(name);
    if (!tg_http_token_ok(name, n, sizeof out->name - 1)) {
        snprintf(err, err_size, "the name after \"%.8s\" must be 1 to 256 token characters",
                 out->kind == TG_IDENT_HEADER ? "header:" : "claim:");
        return -1;
    }
    memcpy(out->name, name, n + 1);
    return 0;
}

const char *tg_identifier_canonical(const struct tg_identifier *id, char *buf, size_t size)
{
    switch (id->kind) {
    case TG_IDENT_APIKEY:
        return "apikey";
    case TG_IDENT_CLIENT_IP:
        return "client_ip";
    case TG_IDENT_CLAIM:
        snprintf(buf, size, "claim:%s", id->name);
        return buf;
    case TG_IDENT_HEADER:
        snprintf(buf, size, "header:%s", id->name);
        return buf;
    case TG_IDENT_ALL:
        break;
    }
    return NULL;
}
