/* translate_tls_protocol.c — TLS protocol versions and cipher lists, one reader for every place a manifest sets
 * them: an EnvironmentGroup's spec.tlsOptions (handshakes with clients) and an ApiProxy's spec.target.tls
 * (handshakes with its backend). Versions become "1.2" / "1.3", lists their OpenSSL names joined by ':'. Cipher
 * names are checked against this OpenSSL, one by one, so a typo is reported on the object (with the field's own
 * path) instead of refusing the snapshot in the data plane. */
#include "translate/translate_tls_protocol.h"

#include "json_util.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#define MAX_CIPHERS 32
#define MAX_CIPHER_NAME 64
#define MAX_FIELD_PATH 96

/* obj's key, "1.2" / "1.3" (also "TLSv1.2" / "TLSv1.3") → 12 / 13; 0 when absent; -1 after reporting. */
static int version_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                         const char *key)
{
    const char *v = NULL;
    int r = tg_json_get_string(obj, key, 16, &v);
    if (r == TG_JSON_ABSENT)
        return 0;
    if (r == TG_JSON_FOUND && (strcmp(v, "1.2") == 0 || strcmp(v, "TLSv1.2") == 0))
        return 12;
    if (r == TG_JSON_FOUND && (strcmp(v, "1.3") == 0 || strcmp(v, "TLSv1.3") == 0))
        return 13;
    char p[MAX_FIELD_PATH];
    snprintf(p, sizeof p, "%s.%s", path, key);
    tg__invalid(tr, it, p, "must be \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are not offered)");
    return -1;
}

int tg__tls_cipher_known(const char *name, int tls13)
{
    static SSL_CTX *probe; /* translation runs on one thread */
    if (!probe && !(probe = SSL_CTX_new(TLS_method())))
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_'))
            return 0; /* no list syntax (":", "!", "+", "@"): one name per item */
    int ok = tls13 ? SSL_CTX_set_ciphersuites(probe, name) == 1 : SSL_CTX_set_cipher_list(probe, name) == 1;
    ERR_clear_error();
    return ok;
}

/* obj's key: a list of names → "A:B" in out[key]; 0 (also when absent), or -1 after reporting. */
static int cipher_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                       const char *key, int tls13, json_t *out)
{
    char p[MAX_FIELD_PATH];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_object_get(obj, key) || json_is_null(json_object_get(obj, key)))
        return 0;
    json_t *names = tg__string_list(tr, it, obj, key, p, MAX_CIPHER_NAME);
    if (!names)
        return -1;
    size_t n = json_array_size(names);
    if (n == 0 || n > MAX_CIPHERS) {
        tg__invalid(tr, it, p, "must name between 1 and %d %s", MAX_CIPHERS, tls13 ? "cipher suites" : "ciphers");
        json_decref(names);
        return -1;
    }
    char joined[MAX_CIPHERS * (MAX_CIPHER_NAME + 1) + 1];
    size_t len = 0;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        const char *name = json_string_value(v);
        if (!tg__tls_cipher_known(name, tls13)) {
            tg__invalid(tr, it, p, "\"%.64s\" is not a %s this OpenSSL knows (OpenSSL names, e.g. %s)", name,
                        tls13 ? "TLS 1.3 cipher suite" : "TLS 1.2 cipher",
                        tls13 ? "TLS_AES_128_GCM_SHA256" : "ECDHE-ECDSA-AES128-GCM-SHA256");
            json_decref(names);
            return -1;
        }
        size_t nl = strlen(name);
        if (len)
            joined[len++] = ':';
        memcpy(joined + len, name, nl);
        len += nl;
    }
    joined[len] = 0;
    json_decref(names);
    json_object_set_new(out, key, json_string(joined));
    return 0;
}

int tg__tls_protocol_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                            json_t *out)
{
    if (!obj)
        return 0;
    /* both versions are read (and each reported) before either failure ends the reading */
    int min = version_field(tr, it, obj, path, "minVersion");
    int max = version_field(tr, it, obj, path, "maxVersion");
    if (min < 0 || max < 0)
        return -1;
    if (min && max && min > max) {
        char p[MAX_FIELD_PATH];
        snprintf(p, sizeof p, "%s.maxVersion", path);
        tg__invalid(tr, it, p, "is below minVersion");
        return -1;
    }
    if (min)
        json_object_set_new(out, "minVersion", json_string(min == 12 ? "1.2" : "1.3"));
    if (max)
        json_object_set_new(out, "maxVersion", json_string(max == 12 ? "1.2" : "1.3"));
    if (cipher_list(tr, it, obj, path, "ciphers", 0, out) < 0 ||
        cipher_list(tr, it, obj, path, "cipherSuites", 1, out) < 0)
        return -1;
    return 0;
}
