/* translate_backend.c — the references a proxy or group follows: a Service target → ready endpoints from
 * its EndpointSlices (Kubernetes' own rules: port by number or name → the slice port of the same name,
 * conditions.ready unset counts as ready), Secret values (stringData over base64 data), and PEM checks with
 * OpenSSL (certificates, keys, CRLs) so a broken one is reported here instead of making the data plane refuse the
 * snapshot. */
#include "translate/translate_backend.h"

#include "translate/translate_fields.h"

#include "base64.h"

#include "json_util.h"
#include "model/validate.h"
#include "pem.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 10000
#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)

struct endpoint {
    char address[46];
    int port;
};

static int endpoint_cmp(const void *a, const void *b)
{
    const struct endpoint *x = a, *y = b;
    int c = strcmp(x->address, y->address);
    return c ? c : x->port - y->port;
}

static const char *label(const json_t *obj, const char *name)
{
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    json_t *v = json_object_get(labels, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The Service port matching target.service.port (an integer port or a port name), or NULL. */
static const json_t *find_service_port(const json_t *svc_spec, const json_t *want)
{
    json_t *ports = json_object_get(svc_spec, "ports");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p) {
        if (json_is_integer(want) && json_equal(json_object_get(p, "port"), (json_t *)want))
            return p;
        if (json_is_string(want) && json_equal(json_object_get(p, "name"), (json_t *)want))
            return p;
    }
    return NULL;
}

/* The port number of a slice for the service port named port_name; 0 when the slice has none. */
static int slice_port(const json_t *slice, const char *port_name, const json_t *target_port)
{
    json_t *ports = json_object_get(slice, "ports");
    if (!json_is_array(ports) || json_array_size(ports) == 0)
        return json_is_integer(target_port) ? (int)json_integer_value(target_port) : 0;
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p) {
        const char *name = "";
        tg_json_get_string(p, "name", 63, &name);
        json_int_t num = 0;
        if (strcmp(name, port_name) == 0 && tg_json_get_int(p, "port", 1, 65535, &num) == TG_JSON_FOUND)
            return (int)num;
    }
    return 0;
}

void tg__service_endpoints(struct tg__tr *tr, struct tg__item *it, const json_t *service, json_t *endpoints)
{
    const char *ns = it->src->namespace_;
    const char *svc_name = json_string_value(json_object_get(service, "name"));
    const json_t *want = json_object_get(service, "port");
    const struct tg_store_object *svc = tg_store_get(tr->store, TG_KIND_SERVICE, ns, svc_name);
    if (!svc) {
        tg__unresolved(tr, it, TG_REASON_BACKEND_NOT_FOUND, "spec.target.service.name", "Service %s/%s not found",
                       ns, svc_name);
        return;
    }
    json_t *spec = json_object_get(svc->obj, "spec");
    const char *type = NULL;
    if (tg_json_get_string(spec, "type", 64, &type) == TG_JSON_FOUND && strcmp(type, "ExternalName") == 0) {
        tg__unresolved(tr, it, TG_REASON_BACKEND_NOT_FOUND, "spec.target.service.name",
                       "Service %s/%s is of type ExternalName, which is not supported", ns, svc_name);
        return;
    }
    const json_t *port = find_service_port(spec, want);
    if (!port) {
        char shown[80];
        if (json_is_integer(want))
            snprintf(shown, sizeof shown, "%lld", (long long)json_integer_value(want));
        else
            snprintf(shown, sizeof shown, "\"%.63s\"", json_string_value(want));
        tg__unresolved(tr, it, TG_REASON_BACKEND_NOT_FOUND, "spec.target.service.port",
                       "Service %s/%s has no port %s", ns, svc_name, shown);
        return;
    }
    const char *port_name = "";
    tg_json_get_string(port, "name", 63, &port_name);
    json_t *target_port = json_object_get(port, "targetPort");
    if (!target_port)
        target_port = json_object_get(port, "port");

    struct endpoint *eps = NULL;
    size_t neps = 0, cap = 0;
    int skipped = 0;
    size_t nslices = 0;
    const struct tg_store_object *const *slices = tg_store_list(tr->store, TG_KIND_ENDPOINT_SLICE, &nslices);
    for (size_t s = 0; s < nslices; s++) {
        const json_t *slice = slices[s]->obj;
        const char *owner = label(slice, "kubernetes.io/service-name");
        if (strcmp(slices[s]->namespace_, ns) != 0 || !owner || strcmp(owner, svc_name) != 0)
            continue;
        const char *atype = NULL;
        if (tg_json_get_string(slice, "addressType", 16, &atype) != TG_JSON_FOUND ||
            (strcmp(atype, "IPv4") != 0 && strcmp(atype, "IPv6") != 0))
            continue; /* FQDN slices are not routed */
        int pnum = slice_port(slice, port_name, target_port);
        if (pnum <= 0)
            continue;
        size_t i;
        json_t *ep;
        json_array_foreach(json_object_get(slice, "endpoints"), i, ep) {
            json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
            if (json_is_false(ready))
                continue;
            size_t j;
            json_t *addr;
            json_array_foreach(json_object_get(ep, "addresses"), j, addr) {
                const char *a = json_string_value(addr);
                if (!a || strlen(a) >= sizeof eps[0].address || !tg_is_ip_literal(a)) {
                    skipped++;
                    continue;
                }
                if (neps >= MAX_ENDPOINTS) {
                    skipped++;
                    continue;
                }
                if (neps == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    struct endpoint *n = realloc(eps, ncap * sizeof *n);
                    if (!n)
                        continue;
                    eps = n;
                    cap = ncap;
                }
                snprintf(eps[neps].address, sizeof eps[neps].address, "%s", a);
                eps[neps].port = pnum;
                neps++;
            }
        }
    }
    if (skipped)
        tg_diags_add(&tr->out->diags, TG_DIAG_WARNING,
                     "Service %s/%s: %d endpoint address(es) skipped (not an IP literal, or over %d)", ns, svc_name,
                     skipped, MAX_ENDPOINTS);
    if (neps)
        qsort(eps, neps, sizeof *eps, endpoint_cmp);
    for (size_t i = 0; i < neps; i++) {
        if (i > 0 && endpoint_cmp(&eps[i - 1], &eps[i]) == 0)
            continue;
        json_array_append_new(endpoints, json_pack("{s:s,s:i}", "address", eps[i].address, "port", eps[i].port));
    }
    free(eps);
}

int tg__secret_has_key(struct tg__tr *tr, const char *ns, const char *name, const char *key)
{
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_SECRET, ns, name);
    return so && (json_object_get(json_object_get(so->obj, "stringData"), key) != NULL ||
                  json_object_get(json_object_get(so->obj, "data"), key) != NULL);
}

char *tg__secret_value(struct tg__tr *tr, const char *ns, const char *name, const char *key, size_t *len,
                       const char **why)
{
    const struct tg_store_object *so = tg_store_get(tr->store, TG_KIND_SECRET, ns, name);
    if (!so) {
        *why = "not found";
        return NULL;
    }
    const char *s = NULL;
    json_t *string_data = json_object_get(so->obj, "stringData");
    json_t *data = json_object_get(so->obj, "data");
    if (json_is_string(json_object_get(string_data, key))) {
        s = json_string_value(json_object_get(string_data, key));
        *len = json_string_length(json_object_get(string_data, key));
        char *copy = malloc(*len + 1);
        if (!copy) {
            *why = "out of memory";
            return NULL;
        }
        memcpy(copy, s, *len + 1);
        return copy;
    }
    json_t *enc = json_object_get(data, key);
    if (!enc) {
        *why = strcmp(key, "tls.crt") == 0   ? "has no tls.crt"
               : strcmp(key, "tls.key") == 0 ? "has no tls.key"
               : strcmp(key, "ca.crt") == 0  ? "has no ca.crt"
                                             : "has no such key";
        return NULL;
    }
    char *dec = json_is_string(enc) ? tg_base64_decode_alloc(json_string_value(enc), json_string_length(enc), len) : NULL;
    if (!dec)
        *why = "data is not valid base64";
    return dec;
}

const char *tg__check_pem(const char *cert, const char *key)
{
    const char *why = NULL;
    EVP_PKEY *pk = NULL;
    STACK_OF(X509) *certs = tg_pem_read_certs(cert, 1);
    X509 *x = certs ? sk_X509_value(certs, 0) : NULL;
    if (!x) {
        why = "no PEM certificate could be read";
        goto done;
    }
    if (key) {
        pk = tg_pem_read_key(key);
        if (!pk) {
            why = "no (unencrypted) PEM private key could be read";
            goto done;
        }
        if (X509_check_private_key(x, pk) != 1)
            why = "the private key does not match the certificate";
    }
done:
    EVP_PKEY_free(pk);
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return why;
}

const char *tg__check_pem_crls(const char *crls)
{
    size_t blocks = 0;
    for (const char *p = crls; (p = strstr(p, "-----BEGIN ")) != NULL; p++)
        blocks++;
    STACK_OF(X509_CRL) *read = tg_pem_read_crls(crls, TG_PEM_MAX_CRLS + 1);
    size_t n = read ? (size_t)sk_X509_CRL_num(read) : 0;
    sk_X509_CRL_pop_free(read, X509_CRL_free);
    ERR_clear_error();
    if (n == 0)
        return "no PEM X509 CRL could be read";
    if (n > TG_PEM_MAX_CRLS)
        return "holds more than " TEXT_OF(TG_PEM_MAX_CRLS) " CRLs";
    if (n != blocks) /* OpenSSL skips blocks of other kinds, and stops at a broken one */
        return "holds a PEM block that is not a readable X509 CRL";
    return NULL;
}
