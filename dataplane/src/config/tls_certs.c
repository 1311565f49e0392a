/* tls_certs.c — see tls_certs.h. */
#include "config/tls_certs.h"
#include "loop/tls_transport.h"

#include "json_util.h"
#include "log.h"
#include "pem.h"

#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TLS 1.2 suites with forward secrecy and AEAD only (Mozilla "intermediate"); TLS 1.3 keeps OpenSSL's three. */
#define TLS12_CIPHERS                                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                  \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static const unsigned char SID_CTX[] = "tollgate";

/* ALPN (RFC 7301): http/1.1 when offered; otherwise no ALPN at all (the client may still speak HTTP/1.1). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *tg_tls_server_ctx_new(void)
{
    /* read-ahead: several records per read(2); loop/tls_transport.c drains them */
    SSL_CTX *ctx = tg_tls_ctx_new(TLS_server_method(), SSL_OP_CIPHER_SERVER_PREFERENCE, 1);
    if (!ctx)
        return NULL;
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_session_id_context(ctx, SID_CTX, sizeof SID_CTX - 1) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    return ctx;
}

/* One parsed "tls" entry. */
struct entry {
    X509 *cert;
    STACK_OF(X509) *chain;
    EVP_PKEY *key;
    const json_t *hostnames;        /* NULL: all of the group's */
};

struct build {
    json_t *errors;
    size_t errors_before;
    struct tg_tls_certs *t;
};

static void add_error(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(struct build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_json_errors_vappend(b->errors, fmt, ap);
    va_end(ap);
}

static void entry_clear(struct entry *e)
{
    X509_free(e->cert);
    sk_X509_pop_free(e->chain, X509_free);
    EVP_PKEY_free(e->key);
    memset(e, 0, sizeof *e);
}

/* Parses obj (groups[gi].tls[ei], or "tlsDefault" with its keys) into e; 0, or -1 with errors reported. */
static int parse_entry(struct build *b, struct entry *e, const json_t *obj, const char *path,
                       const char *const *keys)
{
    if (!json_is_object(obj)) {
        add_error(b, "%s: must be an object", path);
        return -1;
    }
    tg_json_errors_unknown_keys(b->errors, obj, path, keys);
    const json_t *hosts = json_object_get(obj, "hostnames");
    if (hosts) {
        if (!json_is_array(hosts)) {
            add_error(b, "%s.hostnames: must be an array of strings", path);
            return -1;
        }
        size_t i;
        json_t *h;
        json_array_foreach(hosts, i, h) if (!json_is_string(h))
        {
            add_error(b, "%s.hostnames[%zu]: must be a string", path, i);
            return -1;
        }
        e->hostnames = json_array_size(hosts) ? hosts : NULL;
    }
    const char *cert_pem = json_string_value(json_object_get(obj, "certPem"));
    const char *key_pem = json_string_value(json_object_get(obj, "keyPem"));
    if (!cert_pem || !key_pem) {
        add_error(b, "%s: certPem and keyPem are required strings", path);
        return -1;
    }
    /* the chain is bounded by the document's size (the control socket's limit) */
    if (tg_pem_read_cert_chain(cert_pem, (size_t)-1, &e->cert, &e->chain) != 0) {
        add_error(b, "%s.certPem: not a PEM certificate (%s)", path, tg_pem_reason());
        return -1;
    }
    e->key = tg_pem_read_key(key_pem);
    if (!e->key) {
        add_error(b, "%s.keyPem: not a PEM private key (%s)", path, tg_pem_reason());
        return -1;
    }
    if (X509_check_private_key(e->cert, e->key) != 1) {
        add_error(b, "%s.keyPem: does not match the certificate (%s)", path, tg_pem_reason());
        return -1;
    }
    return 0;
}

static int covers(const struct entry *e, const char *host)
{
    if (!e->hostnames)
        return 1;
    size_t i;
    json_t *h;
    json_array_foreach(e->hostnames, i, h) if (strcmp(json_string_value(h), host) == 0) return 1;
    return 0;
}

/* A site holding the entries of mask (bit i = entry i) with the group's policy; the earliest entry of a key
 * type wins, so they are loaded last to first. Cached per mask within one group. */
static struct tg_tls_site *site_for(struct build *b, struct entry *es, size_t n, unsigned long long mask,
                                    const struct tg_tls_protocol *policy, struct tg_strmap *cache, const char *path)
{
    char key[32];
    int klen = snprintf(key, sizeof key, "%llx", mask);
    struct tg_tls_site *site = tg_strmap_get(cache, key, (size_t)klen);
    if (site)
        return site;
    site = calloc(1, sizeof *site);
    SSL_CTX *ctx = site ? tg_tls_server_ctx_new() : NULL;
    struct tg_tls_site **grown = ctx ? realloc(b->t->owned, (b->t->num_owned + 1) * sizeof *grown) : NULL;
    if (!grown) {
        SSL_CTX_free(ctx);
        free(site);
        add_error(b, "%s: out of memory", path);
        return NULL;
    }
    site->ctx = ctx;
    site->policy = policy;
    b->t->owned = grown;
    b->t->owned[b->t->num_owned++] = site;
    for (size_t i = n; i-- > 0;) {
        if (!(mask >> i & 1))
            continue;
        if (SSL_CTX_use_cert_and_key(ctx, es[i].cert, es[i].key, es[i].chain, 1) != 1) {
            add_error(b, "%s[%zu]: the certificate cannot be used (%s)", path, i, tg_pem_reason());
            return NULL;
        }
    }
    tg_strmap_put(cache, key, (size_t)klen, site, NULL);
    return site;
}

/* Maps one hostname (or "*.suffix") to site. */
static void map_host(struct tg_tls_certs *t, const char *host, struct tg_tls_site *site)
{
    int wildcard = host[0] == '*';
    struct tg_strmap *map = wildcard ? &t->wildcard : &t->exact;
    const char *key = wildcard ? host + 1 : host;
    if (!tg_strmap_get(map, key, strlen(key)))
        tg_strmap_put(map, key, strlen(key), site, NULL);
}

/* owner's "tlsOptions" (owner: groups[gi] with path "groups[gi].tlsOptions", or "tlsDefault", whose options have
 * no "defaultCertificate": group = 0) → *p (defaults: TLS 1.2–1.3, the listener's lists); 1 when the group asks
 * to be the default certificate. */
static int build_policy(struct build *b, const json_t *owner, const char *path, struct tg_tls_protocol *p, int group)
{
    p->min_version = TLS1_2_VERSION;
    p->max_version = TLS1_3_VERSION;
    const json_t *opts = json_object_get(owner, "tlsOptions");
    if (!opts)
        return 0;
    if (!json_is_object(opts)) {
        add_error(b, "%s: must be an object", path);
        return 0;
    }
    static const char *const keys[] = {"minVersion", "maxVersion", "ciphers", "cipherSuites", "defaultCertificate",
                                       NULL};
    static const char *const default_keys[] = {"minVersion", "maxVersion", "ciphers", "cipherSuites", NULL};
    tg_json_errors_unknown_keys(b->errors, opts, path, group ? keys : default_keys);
    tg_tls_protocol_parse(opts, path, p, b->errors); /* a problem is in b->errors, which fails the build */
    const json_t *def = json_object_get(opts, "defaultCertificate");
    if (def && !json_is_boolean(def))
        add_error(b, "%s.defaultCertificate: must be true or false", path);
    return json_is_true(def);
}

static void build_group(struct build *b, const json_t *group, size_t gi)
{
    const json_t *tls = json_object_get(group, "tls");
    const json_t *hostnames = json_object_get(group, "hostnames");
    char opath[64];
    snprintf(opath, sizeof opath, "groups[%zu].tlsOptions", gi);
    int wants_default = build_policy(b, group, opath, &b->t->policies[gi], 1);
    if (!tls || !json_is_array(tls) || json_array_size(tls) == 0 || !json_is_array(hostnames))
        return; /* snapshot.c reports a "tls" that is not an array */
    char path[64];
    snprintf(path, sizeof path, "groups[%zu].tls", gi);
    size_t n = json_array_size(tls);
    if (n > 64) {
        add_error(b, "%s: at most 64 entries", path);
        return;
    }
    struct entry *es = calloc(n, sizeof *es);
    if (!es) {
        add_error(b, "%s: out of memory", path);
        return;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char epath[80];
        snprintf(epath, sizeof epath, "%s[%zu]", path, i);
        static const char *const keys[] = {"hostnames", "secret", "certPem", "keyPem", NULL};
        bad |= parse_entry(b, &es[i], json_array_get(tls, i), epath, keys) != 0;
    }
    if (!bad) {
        struct tg_strmap cache;
        tg_strmap_init(&cache);
        size_t hi;
        json_t *h;
        json_array_foreach(hostnames, hi, h) {
            const char *host = json_string_value(h);
            if (!host)
                continue;
            unsigned long long mask = 0;
            for (size_t i = 0; i < n; i++)
                if (covers(&es[i], host))
                    mask |= 1ull << i;
            if (mask) {
                struct tg_tls_site *site = site_for(b, es, n, mask, &b->t->policies[gi], &cache, path);
                if (site)
                    map_host(b->t, host, site);
            }
        }
        b->t->group_default[gi] =
            site_for(b, es, n, n == 64 ? ~0ull : (1ull << n) - 1, &b->t->policies[gi], &cache, path);
        if (wants_default && !b->t->fallback)
            b->t->fallback = b->t->group_default[gi];
        b->t->num_certs += n;
        tg_strmap_free(&cache);
    }
    for (size_t i = 0; i < n; i++)
        entry_clear(&es[i]);
    free(es);
}

/* "tlsDefault" (the controller's default certificate, docs/control-protocol.md) → t->last_resort. */
static void build_last_resort(struct build *b, const json_t *obj)
{
    static const char *const keys[] = {"secret", "certPem", "keyPem", "tlsOptions", NULL};
    struct entry e = {0};
    if (parse_entry(b, &e, obj, "tlsDefault", keys) == 0) {
        build_policy(b, obj, "tlsDefault.tlsOptions", &b->t->last_resort_policy, 0);
        struct tg_strmap cache;
        tg_strmap_init(&cache);
        b->t->last_resort = site_for(b, &e, 1, 1, &b->t->last_resort_policy, &cache, "tlsDefault");
        tg_strmap_free(&cache);
        b->t->num_certs++;
    }
    entry_clear(&e);
}

struct tg_tls_certs *tg_tls_certs_build(const json_t *groups, const json_t *tls_default, json_t *errors)
{
    struct build b = {.errors = errors, .errors_before = json_array_size(errors)};
    struct tg_tls_certs *t = calloc(1, sizeof *t);
    size_t n = json_array_size(groups);
    if (t) {
        t->group_default = calloc(n ? n : 1, sizeof *t->group_default);
        t->policies = calloc(n ? n : 1, sizeof *t->policies);
    }
    if (!t || !t->group_default || !t->policies) {
        if (t) {
            free(t->group_default);
            free(t->policies);
        }
        free(t);
        add_error(&b, "groups: out of memory for TLS certificates");
        return NULL;
    }
    t->num_groups = n;
    tg_strmap_init(&t->exact);
    tg_strmap_init(&t->wildcard);
    b.t = t;
    for (size_t i = 0; i < n; i++) {
        const json_t *g = json_array_get(groups, i);
        if (json_is_object(g))
            build_group(&b, g, i);
    }
    if (tls_default)
        build_last_resort(&b, tls_default);
    if (!t->fallback)
        t->fallback = t->last_resort; /* a group's defaultCertificate comes first */
    if (json_array_size(errors) != b.errors_before) {
        tg_tls_certs_free(t);
        return NULL;
    }
    return t;
}

void tg_tls_certs_free(struct tg_tls_certs *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->num_owned; i++) {
        SSL_CTX_free(t->owned[i]->ctx);
        free(t->owned[i]);
    }
    free(t->owned);
    free(t->group_default);
    free(t->policies);
    tg_strmap_free(&t->exact);
    tg_strmap_free(&t->wildcard);
    free(t);
}

const struct tg_tls_site *tg_tls_certs_find(const struct tg_tls_certs *t, const char *name, size_t len,
                                            size_t group_index)
{
    if (!t)
        return NULL;
    const struct tg_tls_site *site = tg_strmap_get(&t->exact, name, len);
    if (site)
        return site;
    /* the longest wildcard first: each "." in name starts a candidate suffix, leftmost is the longest; a
     * wildcard stands for at least one label, so the suffix never starts at name's first byte */
    for (size_t i = 1; i < len; i++) {
        if (name[i] != '.')
            continue;
        site = tg_strmap_get(&t->wildcard, name + i, len - i);
        if (site)
            return site;
    }
    if (group_index < t->num_groups)
        return t->group_default[group_index];
    return NULL;
}

/* The certPem/keyPem entry of prev_groups that came from Secret secret, or NULL. */
static const json_t *served_entry(const json_t *prev_groups, const char *secret)
{
    size_t gi, ei;
    json_t *g, *e;
    json_array_foreach(prev_groups, gi, g) {
        json_array_foreach(json_object_get(g, "tls"), ei, e) {
            const char *s = json_string_value(json_object_get(e, "secret"));
            if (s && strcmp(s, secret) == 0 && json_is_string(json_object_get(e, "certPem")) &&
                json_is_string(json_object_get(e, "keyPem")))
                return e;
        }
    }
    return NULL;
}

void tg_tls_certs_keep_last_good(json_t *groups, const json_t *prev_groups)
{
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g) {
        json_t *tls = json_object_get(g, "tls");
        for (size_t i = 0; json_is_array(tls) && i < json_array_size(tls);) {
            json_t *e = json_array_get(tls, i);
            if (!json_is_object(e) || !json_is_true(json_object_get(e, "lastGood"))) {
                i++;
                continue;
            }
            const char *secret = json_string_value(json_object_get(e, "secret"));
            const json_t *old = secret ? served_entry(prev_groups, secret) : NULL;
            if (old) {
                json_object_del(e, "lastGood");
                /* copies: the old document may be freed on a worker thread while this one lives on */
                json_object_set_new(e, "certPem", json_string(json_string_value(json_object_get(old, "certPem"))));
                json_object_set_new(e, "keyPem", json_string(json_string_value(json_object_get(old, "keyPem"))));
                tg_info("TLS: Secret %.253s has no usable certificate: the last one served stays in use", secret);
                i++;
            } else {
                tg_warn("TLS: Secret %.253s has no usable certificate and none was served before: its hostnames "
                        "go without it", secret ? secret : "(unnamed)");
                json_array_remove(tls, i);
            }
        }
    }
}

void tg_tls_certs_keep_last_good_default(json_t *doc, const json_t *prev_doc)
{
    json_t *d = json_object_get(doc, "tlsDefault");
    if (!json_is_object(d) || !json_is_true(json_object_get(d, "lastGood")))
        return;
    const char *secret = json_string_value(json_object_get(d, "secret"));
    const json_t *old = json_object_get(prev_doc, "tlsDefault");
    const char *old_secret = json_string_value(json_object_get(old, "secret"));
    if (secret && old_secret && strcmp(secret, old_secret) == 0 && json_is_string(json_object_get(old, "certPem")) &&
        json_is_string(json_object_get(old, "keyPem"))) {
        json_object_del(d, "lastGood");
        json_object_set_new(d, "certPem", json_string(json_string_value(json_object_get(old, "certPem"))));
        json_object_set_new(d, "keyPem", json_string(json_string_value(json_object_get(old, "keyPem"))));
        tg_info("TLS: default certificate Secret %.253s has no usable certificate: the last one served stays in use",
                secret);
    } else {
        tg_warn("TLS: default certificate Secret %.253s has no usable certificate and none was served before: "
                "handshakes without a known name go without it", secret ? secret : "(unnamed)");
        json_object_del(doc, "tlsDefault");
    }
}
