/* tls_last_good.c — see tls_last_good.h. */
#include "process/tls_last_good.h"

#include "pem.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_tls_last_good_init(struct tg_tls_last_good *m) { m->by_secret = json_object(); }

void tg_tls_last_good_fini(struct tg_tls_last_good *m)
{
    json_decref(m->by_secret);
    m->by_secret = NULL;
}

/* 1 when the certificate's notAfter is before now_sec (0 when it cannot be read: translation checked it). */
static int expired(const char *pem, int64_t now_sec)
{
    STACK_OF(X509) *certs = tg_pem_read_certs(pem, 1);
    time_t now = (time_t)now_sec;
    int result = certs && X509_cmp_time(X509_get0_notAfter(sk_X509_value(certs, 0)), &now) < 0;
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return result;
}

static json_t *find_group(json_t *snapshot, const char *id)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(snapshot, "groups"), i, g) {
        if (strcmp(json_string_value(json_object_get(g, "id")), id) == 0)
            return g;
    }
    return NULL;
}

static struct tg_object_status *group_status(struct tg_translation *t, const char *id)
{
    char ns[64];
    const char *slash = strchr(id, '/');
    if (!slash || (size_t)(slash - id) >= sizeof ns)
        return NULL;
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - id), id);
    return (struct tg_object_status *)tg_translation_status(t, TG_KIND_ENVIRONMENT_GROUP, ns, slash + 1);
}

/* Adds "; text" to a condition's message and sets it False with reason (when it was True). */
static void condition_false(struct tg_condition *c, const char *reason, const char *text)
{
    size_t old = c->message ? strlen(c->message) : 0;
    char *msg = malloc(old + strlen(text) + 3);
    if (!msg)
        return;
    if (old && c->status == 0)
        sprintf(msg, "%s; %s", c->message, text);
    else
        strcpy(msg, text);
    free(c->message);
    c->message = msg;
    if (c->status)
        c->reason = reason;
    c->status = 0;
}

/* Removes the entry object (by identity) from the group's "tls". */
static void remove_entry(json_t *group, const json_t *entry)
{
    json_t *tls = json_object_get(group, "tls");
    for (size_t i = 0; i < json_array_size(tls); i++) {
        if (json_array_get(tls, i) == entry) {
            json_array_remove(tls, i);
            return;
        }
    }
}

/* The snapshot's "tlsDefault" (--tls-default-certificate): an expired certificate is taken out, a usable one
 * remembered, and a Secret without usable content (the "lastGood" marker, or the expired certificate) gets its
 * remembered content back. 1 when it was restored. */
static int apply_default(struct tg_tls_last_good *m, struct tg_translation *t, int64_t now_sec)
{
    json_t *d = json_object_get(t->snapshot, "tlsDefault");
    const char *secret = json_string_value(json_object_get(d, "secret"));
    if (!secret)
        return 0;
    const char *cert = json_string_value(json_object_get(d, "certPem"));
    if (cert && !expired(cert, now_sec)) {
        json_object_set_new(m->by_secret, secret, json_pack("{s:O,s:O}", "certPem", json_object_get(d, "certPem"),
                                                            "keyPem", json_object_get(d, "keyPem")));
        return 0;
    }
    if (cert) {
        tg_diags_add(&t->diags, TG_DIAG_WARNING, "--tls-default-certificate: Secret %s: the certificate has expired",
                     secret);
        json_object_del(d, "certPem");
        json_object_del(d, "keyPem");
    }
    json_t *good = json_object_get(m->by_secret, secret);
    if (!good) {
        if (cert) /* expired: not one to keep serving, here or in the data plane */
            json_object_del(t->snapshot, "tlsDefault");
        return 0;
    }
    json_object_del(d, "lastGood");
    json_object_set(d, "certPem", json_object_get(good, "certPem"));
    json_object_set(d, "keyPem", json_object_get(good, "keyPem"));
    tg_diags_add(&t->diags, TG_DIAG_WARNING,
                 "--tls-default-certificate: Secret %s is unusable; the last good certificate stays in use", secret);
    return 1;
}

int tg_tls_last_good_apply(struct tg_tls_last_good *m, struct tg_translation *t, int64_t now_sec)
{
    int restored = apply_default(m, t, now_sec);
    size_t i;
    json_t *ref;
    json_array_foreach(t->tls_refs, i, ref) {
        const char *gid = json_string_value(json_object_get(ref, "group"));
        const char *secret = json_string_value(json_object_get(ref, "secret"));
        json_t *entry = json_object_get(ref, "entry");
        json_t *group = gid ? find_group(t->snapshot, gid) : NULL;
        if (!secret || !group)
            continue; /* the group was left out (invalid or conflicted): nothing is served for it anyway */
        struct tg_object_status *st = group_status(t, gid);
        json_t *marker = json_object_get(ref, "marker");
        if (entry) {
            const char *cert = json_string_value(json_object_get(entry, "certPem"));
            if (cert && !expired(cert, now_sec)) {
                json_object_set_new(m->by_secret, secret,
                                    json_pack("{s:O,s:O}", "certPem", json_object_get(entry, "certPem"), "keyPem",
                                              json_object_get(entry, "keyPem")));
                continue;
            }
            char text[600];
            snprintf(text, sizeof text, "spec.tls: Secret %s: the certificate has expired", secret);
            tg_diags_add(&t->diags, TG_DIAG_WARNING, "EnvironmentGroup %s: %s", gid, text);
            if (st)
                condition_false(&st->resolved_refs, TG_REASON_INVALID_CERTIFICATE_REF, text);
            remove_entry(group, entry); /* no marker: an expired certificate is not one to keep serving */
        }
        json_t *good = json_object_get(m->by_secret, secret);
        if (!good)
            continue; /* the marker stays: the data plane keeps what it served for this Secret, if anything */
        if (marker)
            remove_entry(group, marker);
        /* the hostnames the group still serves (a conflict may have taken some) */
        json_t *hosts = json_array(), *served = json_object_get(group, "hostnames");
        size_t k, j;
        json_t *h, *s;
        json_array_foreach(json_object_get(ref, "hostnames"), k, h) {
            json_array_foreach(served, j, s) if (json_equal(h, s))
            {
                json_array_append(hosts, h);
                break;
            }
        }
        if (json_array_size(hosts) == 0) {
            json_decref(hosts);
            continue;
        }
        json_array_append_new(json_object_get(group, "tls"),
                              json_pack("{s:o,s:s,s:O,s:O}", "hostnames", hosts, "secret", secret, "certPem",
                                        json_object_get(good, "certPem"), "keyPem", json_object_get(good, "keyPem")));
        tg_diags_add(&t->diags, TG_DIAG_WARNING,
                     "EnvironmentGroup %s: spec.tls: Secret %s is unusable; the last good certificate stays in use",
                     gid, secret);
        if (st) { /* the condition (and so the Event) says what the data plane serves meanwhile */
            char text[600];
            snprintf(text, sizeof text, "spec.tls: Secret %s: the last good certificate stays in use", secret);
            condition_false(&st->resolved_refs, TG_REASON_INVALID_CERTIFICATE_REF, text);
        }
        restored++;
    }
    return restored;
}
