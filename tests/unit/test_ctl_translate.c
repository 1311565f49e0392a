/* test_ctl_translate.c — translation: every golden case under tests/golden/translate/<case>/ (in.yaml →
 * snapshot.json and, when there are problems, errors.txt), plus the validators and the purity of tg_translate.
 *
 * Run from the repository root (make does). UPDATE_GOLDEN=1 rewrites the expected files from the current
 * output instead of comparing; review the diff before committing it. TG_GOLDEN_DIR overrides the directory. */
#include "source/manifest.h"
#include "model/store.h"
#include "translate/translate.h"
#include "translate/translate_tls_defaults.h"
#include "model/validate.h"
#include "tg_test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* The in.yaml of the golden case name (a failed CHECK when it cannot be read); NULL or malloc'ed text. */
static char *read_golden_input(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "tests/golden/translate/%s/in.yaml", name);
    char *text = read_file(path, len);
    CHECK(text != NULL);
    return text;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Loads a manifest text into a new store (origin "in.yaml"); problems go to diags. */
static struct tg_store *load_store(const char *text, size_t len, struct tg_diags *diags)
{
    struct tg_store *s = tg_store_new();
    struct tg_manifest_set set = {0};
    if (tg_manifest_parse(text, len, "in.yaml", 0, &set, diags) == 0) {
        for (size_t i = 0; i < set.count; i++) {
            struct tg_object_origin o = {"in.yaml", set.items[i].document};
            tg_store_put(s, set.items[i].kind, json_incref(set.items[i].obj), &o);
        }
    }
    tg_manifest_set_free(&set);
    return s;
}

static char *render_diags(const struct tg_diags *a, const struct tg_diags *b)
{
    size_t cap = 1, n = 0;
    for (int k = 0; k < 2; k++) {
        const struct tg_diags *d = k ? b : a;
        for (size_t i = 0; i < d->count; i++)
            cap += strlen(d->items[i].text) + 16;
    }
    char *out = malloc(cap);
    out[0] = '\0';
    for (int k = 0; k < 2; k++) {
        const struct tg_diags *d = k ? b : a;
        for (size_t i = 0; i < d->count; i++)
            n += (size_t)sprintf(out + n, "%s: %s\n", tg_diag_severity_name(d->items[i].severity), d->items[i].text);
    }
    return out;
}

static int run_case(const char *dir, const char *name, int update)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/in.yaml", dir, name);
    size_t len = 0;
    char *in = read_file(path, &len);
    if (!in) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    struct tg_diags load_diags;
    tg_diags_init(&load_diags);
    struct tg_store *store = load_store(in, len, &load_diags);
    struct tg_translation t;
    CHECK_EQ_INT(tg_translate(store, &t), 0);
    char *snap = json_dumps(t.snapshot, JSON_INDENT(2));
    size_t snap_len = strlen(snap);
    snap = realloc(snap, snap_len + 2);
    strcpy(snap + snap_len, "\n");
    char *errs = render_diags(&load_diags, &t.diags);

    char snap_path[1100], err_path[1100];
    snprintf(snap_path, sizeof snap_path, "%s/%s/snapshot.json", dir, name);
    snprintf(err_path, sizeof err_path, "%s/%s/errors.txt", dir, name);
    int failed = 0;
    if (update) {
        write_file(snap_path, snap);
        if (*errs)
            write_file(err_path, errs);
        else
            remove(err_path);
        printf("updated %s\n", name);
    } else {
        char *want_snap = read_file(snap_path, NULL);
        char *want_errs = read_file(err_path, NULL);
        if (!want_snap || strcmp(want_snap, snap) != 0) {
            fprintf(stderr, "golden %s: snapshot.json differs; got:\n%s\n", name, snap);
            failed = 1;
        }
        if (strcmp(want_errs ? want_errs : "", errs) != 0) {
            fprintf(stderr, "golden %s: errors.txt differs; got:\n%s\n", name, errs);
            failed = 1;
        }
        free(want_snap);
        free(want_errs);
    }
    CHECK(!failed);

    /* purity: the same store translates to the same output, and the store is untouched */
    uint64_t rev = tg_store_revision(store);
    struct tg_translation t2;
    tg_translate(store, &t2);
    CHECK(json_equal(t.snapshot, t2.snapshot));
    CHECK_EQ_INT(t.diags.count, t2.diags.count);
    CHECK_EQ_INT(tg_store_revision(store), rev);
    tg_translation_free(&t2);

    free(snap);
    free(errs);
    free(in);
    tg_translation_free(&t);
    tg_diags_free(&load_diags);
    tg_store_free(store);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_golden(void)
{
    const char *dir = getenv("TG_GOLDEN_DIR") ? getenv("TG_GOLDEN_DIR") : "tests/golden/translate";
    int update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", dir);
        return;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        if (e->d_name[0] == '.')
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    CHECK(n >= 10);
    for (size_t i = 0; i < n; i++) {
        run_case(dir, names[i], update);
        free(names[i]);
    }
}

static void test_status(void)
{
    const char *text = "apiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\n"
                       "metadata: {name: g, generation: 7}\nspec: {hostnames: [a.example.com], environments: [prod]}\n"
                       "---\napiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: p}\n"
                       "spec: {environments: [prod], basePath: /p, target: {service: {name: s, port: 80}}}\n"
                       "---\napiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: q}\n"
                       "spec: {environments: [prod], basePath: p, target: {url: 'http://10.0.0.1'}}\n";
    struct tg_diags diags;
    tg_diags_init(&diags);
    struct tg_store *s = load_store(text, strlen(text), &diags);
    struct tg_translation t;
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    CHECK_EQ_INT(t.nstatuses, 3);
    const struct tg_object_status *g = tg_translation_status(&t, TG_KIND_ENVIRONMENT_GROUP, "default", "g");
    CHECK(g && g->accepted.status && g->resolved_refs.status && g->in_snapshot && g->generation == 7);
    const struct tg_object_status *p = tg_translation_status(&t, TG_KIND_API_PROXY, "default", "p");
    CHECK(p && p->accepted.status && !p->resolved_refs.status && p->in_snapshot && p->endpoints == 0);
    CHECK(g && g->endpoints == -1 && g->hostnames == NULL); /* a group has neither status.endpoints nor hostnames */
    if (p) {
        CHECK_EQ_STR(p->resolved_refs.reason, TG_REASON_BACKEND_NOT_FOUND);
        CHECK(strstr(p->resolved_refs.message, "Service default/s not found") != NULL);
        CHECK(json_array_size(p->hostnames) == 1 &&
              strcmp(json_string_value(json_array_get(p->hostnames, 0)), "a.example.com") == 0);
    }
    const struct tg_object_status *q = tg_translation_status(&t, TG_KIND_API_PROXY, "default", "q");
    CHECK(q && !q->accepted.status && !q->in_snapshot);
    CHECK(q && q->hostnames && json_array_size(q->hostnames) == 0); /* [] so a merge patch clears an old list */
    if (q) {
        CHECK_EQ_STR(q->accepted.reason, TG_REASON_INVALID);
        CHECK_EQ_STR(q->accepted.message, "spec.basePath: must start with \"/\"");
    }
    CHECK_EQ_INT(tg_diags_count(&t.diags, TG_DIAG_ERROR), 1);
    CHECK_EQ_INT(tg_diags_count(&t.diags, TG_DIAG_WARNING), 1);
    CHECK(t.diags.count >= 1 &&
          strcmp(t.diags.items[t.diags.count - 1].text,
                 "in.yaml doc 3: ApiProxy default/q: spec.basePath: must start with \"/\"") == 0);
    tg_translation_free(&t);
    /* an empty store translates to an empty snapshot */
    struct tg_store *empty = tg_store_new();
    CHECK_EQ_INT(tg_translate(empty, &t), 0);
    char *dump = json_dumps(t.snapshot, JSON_COMPACT);
    CHECK_EQ_STR(dump, "{\"groups\":[],\"proxies\":[]}");
    free(dump);
    tg_translation_free(&t);
    tg_store_free(empty);
    tg_store_free(s);
    tg_diags_free(&diags);
}

/* target.tls from Secrets: a client-certificate Secret that is missing (RefNotFound) or holds no usable PEM
 * (InvalidRef) leaves the proxy in the snapshot without endpoints (503, never a connection without the certificate
 * asked for), with ResolvedRefs false and no key in the snapshot; the Service's DNS name is the default server
 * name. (The golden case target-tls has the working Secrets.) */
static void test_target_tls_refs(void)
{
    static const char proxy[] =
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: tls1}\nspec: {ports: [{port: 443}]}\n---\n"
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s-1, namespace: tls1, labels: "
        "{kubernetes.io/service-name: s}}\naddressType: IPv4\nports: [{port: 8443}]\nendpoints: [{addresses: "
        "[10.0.0.1]}]\n---\napiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: p, namespace: tls1}\n"
        "spec: {environments: [prod], basePath: /p, target: {service: {name: s, port: 443}, tls: {enabled: true, "
        "clientCertSecretName: client}}}\n";
    char text[8192];
    for (int with_secret = 0; with_secret < 2; with_secret++) {
        snprintf(text, sizeof text, "%s%s", proxy,
                 with_secret ? "---\napiVersion: v1\nkind: Secret\nmetadata: {name: client, namespace: tls1}\n"
                               "type: kubernetes.io/tls\nstringData: {tls.crt: nothing, tls.key: nothing}\n"
                             : "");
        struct tg_diags diags;
        tg_diags_init(&diags);
        struct tg_store *s = load_store(text, strlen(text), &diags);
        struct tg_translation t;
        CHECK_EQ_INT(tg_translate(s, &t), 0);
        const struct tg_object_status *p = tg_translation_status(&t, TG_KIND_API_PROXY, "tls1", "p");
        CHECK(p && p->accepted.status && !p->resolved_refs.status && p->in_snapshot && p->endpoints == 0);
        if (p)
            CHECK_EQ_STR(p->resolved_refs.reason, with_secret ? TG_REASON_INVALID_REF : TG_REASON_REF_NOT_FOUND);
        json_t *tls = json_object_get(json_object_get(json_array_get(json_object_get(t.snapshot, "proxies"), 0),
                                                      "target"), "tls");
        CHECK_EQ_STR(json_string_value(json_object_get(tls, "serverName")), "s.tls1.svc");
        CHECK(json_object_get(tls, "clientKeyPem") == NULL);
        tg_translation_free(&t);
        tg_store_free(s);
        tg_diags_free(&diags);
    }
}

static void test_validators(void)
{
    CHECK(tg_check_base_path("/") == NULL);
    CHECK(tg_check_base_path("/chat") == NULL);
    CHECK(tg_check_base_path("/a/b-c_d.e~f/%2F:@!$&'()*+,;=") == NULL);
    CHECK(tg_check_base_path("") != NULL);
    CHECK(tg_check_base_path("chat") != NULL);
    CHECK(tg_check_base_path("/chat/") != NULL);
    CHECK(tg_check_base_path("/a//b") != NULL);
    CHECK(tg_check_base_path("/a/./b") != NULL);
    CHECK(tg_check_base_path("/..") != NULL);
    CHECK(tg_check_base_path("/a/...") == NULL);
    CHECK(tg_check_base_path("/a b") != NULL);
    CHECK(tg_check_base_path("/a%2") != NULL);
    CHECK(tg_check_base_path("/a%zz") != NULL);
    CHECK(tg_check_base_path("/a#b") != NULL);

    char h[TG_HOSTNAME_BUF];
    CHECK(tg_normalize_hostname("API.Example.com", 0, h) == NULL);
    CHECK_EQ_STR(h, "api.example.com");
    CHECK(tg_normalize_hostname("*.example.com", 1, h) == NULL);
    CHECK(tg_normalize_hostname("*.example.com", 0, h) != NULL);
    CHECK(tg_normalize_hostname("*", 1, h) != NULL);
    CHECK(tg_normalize_hostname("*.", 1, h) != NULL);
    CHECK(tg_normalize_hostname("a.*.com", 1, h) != NULL);
    CHECK(tg_normalize_hostname("example.com.", 1, h) != NULL);
    CHECK(tg_normalize_hostname("a..b", 1, h) != NULL);
    CHECK(tg_normalize_hostname("a_b.com", 1, h) != NULL);
    CHECK(tg_normalize_hostname("localhost", 1, h) == NULL);

    char addr[64], prefix[TG_MAX_PATH_LEN + 1];
    int port = 0;
    CHECK(tg_parse_target_url("http://10.0.0.5:9000/prefix/", addr, &port, prefix) == NULL);
    CHECK_EQ_STR(addr, "10.0.0.5");
    CHECK_EQ_INT(port, 9000);
    CHECK_EQ_STR(prefix, "/prefix");
    CHECK(tg_parse_target_url("http://[fd00::1]", addr, &port, prefix) == NULL);
    CHECK_EQ_STR(addr, "fd00::1");
    CHECK_EQ_INT(port, 80);
    CHECK_EQ_STR(prefix, "");
    CHECK(tg_parse_target_url("http://localhost:1/", addr, &port, prefix) == NULL);
    CHECK_EQ_STR(addr, "127.0.0.1");
    CHECK(tg_parse_target_url("http://example.com", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://10.0.0.1:0", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://10.0.0.1:65536", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://10.0.0.1:", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://u@10.0.0.1", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://10.0.0.1/?q", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://10.0.0.1/a/../b", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://010.0.0.1", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://[fd00::1", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("ftp://10.0.0.1", addr, &port, prefix) != NULL);
    CHECK(tg_parse_target_url("http://", addr, &port, prefix) != NULL);

    int64_t sec = 0;
    int32_t ns = 0;
    CHECK_EQ_INT(tg_parse_rfc3339("1970-01-01T00:00:00Z", &sec, &ns), 0);
    CHECK_EQ_INT(sec, 0);
    CHECK_EQ_INT(tg_parse_rfc3339("2024-01-01T00:00:00+01:00", &sec, &ns), 0);
    CHECK_EQ_INT(sec, 1704063600);
    CHECK_EQ_INT(tg_parse_rfc3339("2024-02-29T12:00:00.5Z", &sec, &ns), 0);
    CHECK_EQ_INT(ns, 500000000);
    CHECK_EQ_INT(tg_parse_rfc3339("2023-02-29T12:00:00Z", &sec, &ns), -1);
    CHECK_EQ_INT(tg_parse_rfc3339("2024-01-01 00:00:00Z", &sec, &ns), -1);
    CHECK_EQ_INT(tg_parse_rfc3339("2024-01-01T00:00:00", &sec, &ns), -1);
    CHECK_EQ_INT(tg_parse_rfc3339("2024-01-01T00:00:00Zjunk", &sec, &ns), -1);
    CHECK_EQ_INT(tg_parse_rfc3339("yesterday", &sec, &ns), -1);

    CHECK(tg_check_dns_label("prod") == NULL);
    CHECK(tg_check_dns_label("Prod") != NULL);
    CHECK(tg_check_dns_label("a-") != NULL);
    CHECK(tg_check_dns_subdomain("a.b-c.d") == NULL);
    CHECK(tg_check_dns_subdomain("a..b") != NULL);
    CHECK(tg_is_ip_literal("::1"));
    CHECK(tg_is_ip_literal("10.0.0.1"));
    CHECK(!tg_is_ip_literal("10.0.0"));
    CHECK(!tg_is_ip_literal("fe80::1%eth0"));
}

static void test_manifest_errors(void)
{
    struct tg_diags d;
    struct tg_manifest_set set = {0};
    tg_diags_init(&d);
    /* a syntax error fails the file and names the document and line */
    const char *bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [\n";
    CHECK_EQ_INT(tg_manifest_parse(bad, strlen(bad), "x.yaml", 0, &set, &d), -1);
    CHECK_EQ_INT(set.count, 0);
    CHECK(d.count == 1 && strncmp(d.items[0].text, "x.yaml doc 2: line ", 19) == 0);
    tg_diags_free(&d);
    /* structural problems fail the file too */
    const char *nokind = "apiVersion: v1\nmetadata: {name: a}\n";
    CHECK_EQ_INT(tg_manifest_parse(nokind, strlen(nokind), "x.yaml", 0, &set, &d), -1);
    CHECK(d.count == 1 && strcmp(d.items[0].text, "x.yaml doc 1: kind: required string") == 0);
    tg_diags_free(&d);
    const char *badname = "apiVersion: v1\nkind: Secret\nmetadata: {name: Bad_Name}\n";
    CHECK_EQ_INT(tg_manifest_parse(badname, strlen(badname), "x.yaml", 0, &set, &d), -1);
    tg_diags_free(&d);
    const char *scalar = "just text\n";
    CHECK_EQ_INT(tg_manifest_parse(scalar, strlen(scalar), "x.yaml", 0, &set, &d), -1);
    tg_diags_free(&d);
    /* unknown kinds are skipped with a warning, empty documents ignored, Lists expanded */
    const char *mixed = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n---\n"
                        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n"
                        "- {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: ns1}}\n";
    CHECK_EQ_INT(tg_manifest_parse(mixed, strlen(mixed), "x.yaml", 0, &set, &d), 0);
    CHECK_EQ_INT(set.count, 2);
    CHECK_EQ_INT(tg_diags_count(&d, TG_DIAG_WARNING), 1);
    if (set.count == 2) {
        CHECK_EQ_INT(set.items[0].kind, TG_KIND_CONFIG_MAP);
        CHECK_EQ_INT(set.items[1].document, 3);
    }
    tg_manifest_set_free(&set);
    tg_diags_free(&d);
    /* JSON files: one value, strict (duplicate keys refused) */
    const char *js = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"j\"}}";
    CHECK_EQ_INT(tg_manifest_parse(js, strlen(js), "x.json", 1, &set, &d), 0);
    CHECK_EQ_INT(set.count, 1);
    tg_manifest_set_free(&set);
    const char *dup = "{\"kind\":\"ConfigMap\",\"kind\":\"Secret\"}";
    CHECK_EQ_INT(tg_manifest_parse(dup, strlen(dup), "x.json", 1, &set, &d), -1);
    tg_diags_free(&d);
}

/* The cluster-wide TLS defaults (--tls-default-*, translate_tls_defaults.c): the default options fill in what a
 * group's spec.tlsOptions leaves unset (both versions only when it sets neither), the default certificate Secret
 * (any namespace) becomes "tlsDefault" with the default options, and a missing or unusable one becomes the
 * lastGood marker plus a warning. The Secrets come from the golden case secrets-stringdata. */
static void test_tls_defaults(void)
{
    size_t len = 0;
    char *golden = read_golden_input("secrets-stringdata", &len);
    if (!golden)
        return;
    const char *extra =
        "\n---\napiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\nmetadata: {name: own, namespace: apis}\n"
        "spec: {hostnames: [own.example.com], environments: [prod], tlsOptions: {maxVersion: \"1.2\", "
        "ciphers: [ECDHE-RSA-AES128-GCM-SHA256]}}\n"
        "---\napiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\nmetadata: {name: hsts, namespace: apis}\n"
        "spec: {hostnames: [hsts.example.com], environments: [prod], tlsOptions: {hsts: {maxAge: 600}}}\n"
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: opaque, namespace: apis}\ntype: Opaque\n"
        "stringData: {tls.crt: x, tls.key: y}\n";
    char *text = malloc(len + strlen(extra) + 1);
    memcpy(text, golden, len);
    strcpy(text + len, extra);
    struct tg_diags diags;
    tg_diags_init(&diags);
    struct tg_store *s = load_store(text, strlen(text), &diags);
    struct tg_tls_defaults d = {.certificate_secret = "apis/api-tls", .min_version = "1.3", .max_version = "1.3",
                                .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384",
                                .cipher_suites = "TLS_AES_256_GCM_SHA384"};
    struct tg_translation t;
    CHECK_EQ_INT(tg_translate_with(s, &d, &t), 0);
    json_t *groups = json_object_get(t.snapshot, "groups");
    json_t *by_id = json_object();
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) json_object_set(by_id, json_string_value(json_object_get(g, "id")), g);
    char *o = json_dumps(json_object_get(json_object_get(by_id, "apis/public"), "tlsOptions"), JSON_COMPACT);
    CHECK_EQ_STR(o, "{\"minVersion\":\"1.3\",\"maxVersion\":\"1.3\",\"ciphers\":\"ECDHE-ECDSA-AES256-GCM-SHA384\","
                    "\"cipherSuites\":\"TLS_AES_256_GCM_SHA384\"}");
    free(o);
    o = json_dumps(json_object_get(json_object_get(by_id, "apis/own"), "tlsOptions"), JSON_COMPACT);
    CHECK_EQ_STR(o, "{\"maxVersion\":\"1.2\",\"ciphers\":\"ECDHE-RSA-AES128-GCM-SHA256\","
                    "\"cipherSuites\":\"TLS_AES_256_GCM_SHA384\"}"); /* its own pair and list stay */
    free(o);
    o = json_dumps(json_object_get(json_object_get(by_id, "apis/hsts"), "tlsOptions"), JSON_COMPACT);
    CHECK(o && strstr(o, "\"minVersion\":\"1.3\"") != NULL); /* an hsts-only tlsOptions sets no version */
    free(o);
    CHECK(json_object_get(json_object_get(by_id, "apis/hsts"), "hsts") != NULL);
    json_t *def = json_object_get(t.snapshot, "tlsDefault");
    CHECK_EQ_STR(json_string_value(json_object_get(def, "secret")), "apis/api-tls");
    CHECK(strstr(json_string_value(json_object_get(def, "certPem")) ? json_string_value(json_object_get(def, "certPem"))
                                                                     : "", "BEGIN CERTIFICATE") != NULL);
    CHECK(json_is_string(json_object_get(def, "keyPem")) && !json_object_get(def, "lastGood"));
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(def, "tlsOptions"), "minVersion")), "1.3");
    size_t warnings = tg_diags_count(&t.diags, TG_DIAG_WARNING);
    tg_translation_free(&t);
    json_decref(by_id);

    /* missing, of another type: the marker and one warning more each */
    const char *bad[] = {"other/nothing", "apis/opaque"};
    for (int k = 0; k < 2; k++) {
        struct tg_tls_defaults dd = {.certificate_secret = bad[k]};
        CHECK_EQ_INT(tg_translate_with(s, &dd, &t), 0);
        def = json_object_get(t.snapshot, "tlsDefault");
        CHECK(json_is_true(json_object_get(def, "lastGood")) && !json_object_get(def, "certPem") &&
              !json_object_get(def, "tlsOptions"));
        CHECK_EQ_INT(tg_diags_count(&t.diags, TG_DIAG_WARNING), warnings + 1);
        CHECK(t.diags.count && strstr(t.diags.items[t.diags.count - 1].text, "--tls-default-certificate: Secret") != NULL);
        /* no default options: groups are as without defaults */
        o = json_dumps(json_object_get(json_array_get(json_object_get(t.snapshot, "groups"), 0), "tlsOptions"),
                       JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK(o == NULL || strstr(o, "minVersion") == NULL);
        free(o);
        tg_translation_free(&t);
    }
    /* without defaults: no tlsDefault, no options added */
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    CHECK(json_object_get(t.snapshot, "tlsDefault") == NULL);
    tg_translation_free(&t);

    /* the command-line check */
    char err[512];
    struct tg_tls_defaults ok = {.certificate_secret = "kube-system/default-tls", .min_version = "1.2",
                                 .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
                                 .cipher_suites = "TLS_AES_128_GCM_SHA256"};
    CHECK_EQ_INT(tg_tls_defaults_check(&ok, err, sizeof err), 0);
    const struct {
        struct tg_tls_defaults d;
        const char *msg;
    } refused[] = {
        {{.certificate_secret = "no-slash"}, "expected NAMESPACE/NAME"},
        {{.certificate_secret = "Bad_NS/x"}, "--tls-default-certificate Bad_NS/x"},
        {{.certificate_secret = "ns/"}, "--tls-default-certificate ns/"},
        {{.min_version = "1.1"}, "--tls-default-min-version 1.1: expected 1.2 or 1.3"},
        {{.max_version = "TLSv1.3"}, "--tls-default-max-version"},
        {{.min_version = "1.3", .max_version = "1.2"}, "is below"},
        {{.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:RC4-MD5x"}, "--tls-default-ciphers RC4-MD5x: is not"},
        {{.ciphers = "ECDHE-RSA-AES128-GCM-SHA256::X"}, "1 to 32 OpenSSL names"},
        {{.ciphers = "!aNULL"}, "--tls-default-ciphers !aNULL: is not"}, /* names, not a list expression */
        {{.cipher_suites = "ECDHE-ECDSA-AES128-GCM-SHA256"}, "--tls-default-cipher-suites"},
        {{.cipher_suites = ""}, "is empty"},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        err[0] = 0;
        CHECK_EQ_INT(tg_tls_defaults_check(&refused[k].d, err, sizeof err), -1);
        if (!strstr(err, refused[k].msg))
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", k, err, refused[k].msg);
        CHECK(strstr(err, refused[k].msg) != NULL);
    }
    tg_store_free(s);
    tg_diags_free(&diags);
    free(text);
    free(golden);
}

/* One X509 CRL (throwaway test material, the golden case target-tls-options' first), each line indented for a YAML
 * block scalar. */
static const char one_crl[] =
    "    -----BEGIN X509 CRL-----\n"
    "    MIG/MGcCAQEwCgYIKoZIzj0EAwIwHzEdMBsGA1UEAwwUZ29sZGVuIHJldm9raW5n\n"
    "    IENBIGEXDTI2MDEwMTAwMDAwMFoYDzIxMjYwMTAxMDAwMDAwWjAVMBMCAhABFw0y\n"
    "    NjAxMDEwMDAwMDBaMAoGCCqGSM49BAMCA0gAMEUCIQCmTY6VOTpNP2da86WSMaku\n"
    "    vBbvzcVtRgiH5CUfYgy0lgIgM0aqwUg5Bf8xNscNGB6TgsU0JjqQR+dPi5wBsXho\n"
    "    reQ=\n"
    "    -----END X509 CRL-----\n";

/* spec.target.tls versions, ciphers and ca.crl on top of the golden case target-tls-options (whose snapshot shows
 * the fields translated and left out when unset): an invalid field leaves the proxy out, Accepted=False/Invalid with
 * the field's own path; a ca.crl that is not PEM CRLs is handled as a ca.crt that is not PEM is: ResolvedRefs=False,
 * InvalidRef (the condition and Event the status writer makes of it), the proxy kept in the snapshot with no
 * endpoints (503, never a connection without the revocations asked for) and no crlPem; so are over 64 CRLs. */
static void test_target_tls_options(void)
{
    size_t len = 0;
    char *golden = read_golden_input("target-tls-options", &len);
    if (!golden)
        return;
    static const char proxy_fmt[] =
        "\n---\napiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: %s, namespace: apis}\n"
        "spec: {environments: [prod], basePath: /%s, target: {service: {name: secure-backend, port: https}, "
        "tls: {enabled: true, caSecretName: %s}}}\n";
    size_t cap = len + 70 * sizeof one_crl + 4096, n = len;
    char *text = malloc(cap);
    memcpy(text, golden, len);
    n += (size_t)snprintf(text + n, cap - n, proxy_fmt, "broken-ca", "broken-ca", "not-pem-ca");
    n += (size_t)snprintf(text + n, cap - n, "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: not-pem-ca, "
                                             "namespace: apis}\nstringData: {ca.crt: not PEM}\n");
    n += (size_t)snprintf(text + n, cap - n, proxy_fmt, "too-many-crls", "too-many-crls", "many-crls");
    /* the CA itself does not matter here: take the one of ca-without-crl */
    const char *ca = strstr(golden, "name: ca-without-crl");
    const char *ca_begin = ca ? strstr(ca, "    -----BEGIN CERTIFICATE-----") : NULL;
    const char *ca_end = ca_begin ? strstr(ca_begin, "-----END CERTIFICATE-----\n") : NULL;
    CHECK(ca_end != NULL);
    if (ca_end)
        n += (size_t)snprintf(text + n, cap - n, "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: many-crls, "
                                                 "namespace: apis}\nstringData:\n  ca.crt: |\n%.*s  ca.crl: |\n",
                              (int)(ca_end + strlen("-----END CERTIFICATE-----\n") - ca_begin), ca_begin);
    for (int k = 0; k < 65; k++)
        n += (size_t)snprintf(text + n, cap - n, "%s", one_crl);
    CHECK(n < cap);

    struct tg_diags diags;
    tg_diags_init(&diags);
    struct tg_store *s = load_store(text, n, &diags);
    struct tg_translation t;
    CHECK_EQ_INT(tg_translate(s, &t), 0);
    const struct {
        const char *name;
        const char *reason; /* Accepted=False (Invalid) or ResolvedRefs=False (a ref) */
        const char *message;
    } want[] = {
        {"bad-version", TG_REASON_INVALID,
         "spec.target.tls.minVersion: must be \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are not offered)"},
        {"max-below-min", TG_REASON_INVALID, "spec.target.tls.maxVersion: is below minVersion"},
        {"unknown-cipher", TG_REASON_INVALID,
         "spec.target.tls.ciphers: \"ECDHE-ECDSA-AES128-GCM-SHA999\" is not a TLS 1.2 cipher this OpenSSL knows "
         "(OpenSSL names, e.g. ECDHE-ECDSA-AES128-GCM-SHA256)"},
        {"unknown-suite", TG_REASON_INVALID,
         "spec.target.tls.cipherSuites: \"TLS_AES_512_GCM_SHA512\" is not a TLS 1.3 cipher suite this OpenSSL knows "
         "(OpenSSL names, e.g. TLS_AES_128_GCM_SHA256)"},
        {"empty-ciphers", TG_REASON_INVALID, "spec.target.tls.ciphers: must name between 1 and 32 ciphers"},
        {"broken-ca", TG_REASON_INVALID_REF,
         "spec.target.tls.caSecretName: Secret apis/not-pem-ca: no PEM certificate could be read"},
        {"broken-crl", TG_REASON_INVALID_REF,
         "spec.target.tls.caSecretName: Secret apis/ca-broken-crl: ca.crl: no PEM X509 CRL could be read"},
        {"crl-and-cert", TG_REASON_INVALID_REF,
         "spec.target.tls.caSecretName: Secret apis/ca-crl-and-cert: ca.crl: holds a PEM block that is not a "
         "readable X509 CRL"},
        {"too-many-crls", TG_REASON_INVALID_REF,
         "spec.target.tls.caSecretName: Secret apis/many-crls: ca.crl: holds more than 64 CRLs"},
    };
    json_t *by_id = json_object();
    size_t i;
    json_t *pj;
    json_array_foreach(json_object_get(t.snapshot, "proxies"), i, pj)
        json_object_set(by_id, json_string_value(json_object_get(pj, "id")), pj);
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const struct tg_object_status *p = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", want[k].name);
        CHECK(p != NULL);
        if (!p)
            continue;
        char id[128];
        snprintf(id, sizeof id, "apis/%s", want[k].name);
        json_t *tls = json_object_get(json_object_get(json_object_get(by_id, id), "target"), "tls");
        if (strcmp(want[k].reason, TG_REASON_INVALID) == 0) {
            CHECK(!p->accepted.status && !p->in_snapshot && tls == NULL);
            CHECK_EQ_STR(p->accepted.reason, want[k].reason);
            CHECK_EQ_STR(p->accepted.message, want[k].message);
        } else {
            CHECK(p->accepted.status && !p->resolved_refs.status && p->in_snapshot && p->endpoints == 0);
            CHECK_EQ_STR(p->resolved_refs.reason, want[k].reason);
            CHECK_EQ_STR(p->resolved_refs.message, want[k].message);
            CHECK(tls != NULL && json_object_get(tls, "crlPem") == NULL);
            CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(json_object_get(by_id, id), "target"),
                                                         "endpoints")), 0);
        }
    }
    /* the working ones: all fields, one or two CRLs, and nothing added for a proxy that sets none */
    const char *served[] = {"all-options", "tls13-only", "no-options"};
    for (size_t k = 0; k < 3; k++) {
        const struct tg_object_status *p = tg_translation_status(&t, TG_KIND_API_PROXY, "apis", served[k]);
        CHECK(p && p->accepted.status && p->resolved_refs.status && p->in_snapshot && p->endpoints == 1);
    }
    json_t *all = json_object_get(json_object_get(json_object_get(by_id, "apis/all-options"), "target"), "tls");
    CHECK_EQ_STR(json_string_value(json_object_get(all, "minVersion")), "1.2");
    CHECK_EQ_STR(json_string_value(json_object_get(all, "maxVersion")), "1.3"); /* spelled TLSv1.3 in the spec */
    CHECK_EQ_STR(json_string_value(json_object_get(all, "ciphers")),
                 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
    CHECK_EQ_STR(json_string_value(json_object_get(all, "cipherSuites")),
                 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    const char *crls = json_string_value(json_object_get(all, "crlPem"));
    CHECK(crls && strstr(crls, "-----BEGIN X509 CRL-----") && strstr(strstr(crls, "-----END X509 CRL-----"),
                                                                       "-----BEGIN X509 CRL-----"));
    json_t *plain = json_object_get(json_object_get(json_object_get(by_id, "apis/no-options"), "target"), "tls");
    CHECK_EQ_INT(json_object_size(plain), 3); /* enabled, serverName, caPem: as before these fields existed */
    json_decref(by_id);
    tg_translation_free(&t);
    tg_store_free(s);
    tg_diags_free(&diags);
    free(text);
    free(golden);
}

int main(void)
{
    test_validators();
    test_manifest_errors();
    test_status();
    test_golden();
    test_target_tls_refs();
    test_target_tls_options();
    test_tls_defaults();
    TG_TEST_MAIN_END();
}
