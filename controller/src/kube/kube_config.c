/* kube_config.c — kubeconfig files, in-cluster config and token rotation; see kube_config.h. */
#include "kube/kube_config.h"

#include "base64.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_KUBECONFIG_FILES 16

/* ---- small helpers ---------------------------------------------------------------------------- */

/* Reads a whole regular file of at most TG_KUBE_MAX_FILE_BYTES; the result is NUL-terminated. */
static char *read_file_bounded(const char *path, size_t *out_len, char *err, size_t errlen)
{
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > TG_KUBE_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, TG_KUBE_MAX_FILE_BYTES);
        goto fail;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    data = malloc(cap);
    if (!data) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        if (len + 1 >= cap) { /* the file grew while we read it: stay within the bound */
            if (cap > TG_KUBE_MAX_FILE_BYTES) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, TG_KUBE_MAX_FILE_BYTES);
                goto fail;
            }
            char *n = realloc(data, cap * 2);
            if (!n) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            data = n;
            cap *= 2;
        }
        ssize_t r = read(fd, data + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    data[len] = '\0';
    close(fd);
    if (out_len)
        *out_len = len;
    return data;
fail:
    free(data);
    close(fd);
    return NULL;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Resolves path against dir (the kubeconfig's directory) unless it is absolute. */
static void resolve_path(const char *dir, const char *path, char *out, size_t outlen)
{
    if (path[0] == '/' || !dir[0])
        snprintf(out, outlen, "%s", path);
    else
        snprintf(out, outlen, "%s/%s", dir, path);
}

/* ---- YAML navigation over libyaml's document API --------------------------------------------- */

struct kc_file {
    char path[PATH_MAX];
    char dir[PATH_MAX];
    yaml_document_t doc;
    int loaded;
};

static yaml_node_t *root_of(struct kc_file *f)
{
    yaml_node_t *r = yaml_document_get_root_node(&f->doc);
    return r && r->type == YAML_MAPPING_NODE ? r : NULL;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* The scalar value of map[key], or NULL when absent; a non-scalar or null value is reported. */
static const char *map_scalar(yaml_document_t *doc, yaml_node_t *map, const char *key, int *bad)
{
    yaml_node_t *n = map_get(doc, map, key);
    if (!n)
        return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        *bad = 1;
        return NULL;
    }
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(v, "null") || !strcmp(v, "~") || !v[0]))
        return NULL;
    return v;
}

/* Finds the entry of list `section` (clusters, users, contexts) whose name is `name`; returns its `field`
 * mapping (cluster, user, context) and the file it came from. First file wins, as in kubectl. */
static yaml_node_t *find_named(struct kc_file *files, int nfiles, const char *section, const char *field,
                               const char *name, struct kc_file **from)
{
    for (int i = 0; i < nfiles; i++) {
        yaml_node_t *list = map_get(&files[i].doc, root_of(&files[i]), section);
        if (!list || list->type != YAML_SEQUENCE_NODE)
            continue;
        for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
            yaml_node_t *entry = yaml_document_get_node(&files[i].doc, *it);
            int bad = 0;
            const char *n = map_scalar(&files[i].doc, entry, "name", &bad);
            if (n && strcmp(n, name) == 0) {
                *from = &files[i];
                return map_get(&files[i].doc, entry, field);
            }
        }
    }
    return NULL;
}

static int load_yaml_file(struct kc_file *f, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *data = read_file_bounded(path, &len, err, errlen);
    if (!data)
        return -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->dir, sizeof f->dir, "%s", path);
    char *slash = strrchr(f->dir, '/');
    if (slash)
        *slash = '\0';
    else
        f->dir[0] = '\0';

    yaml_parser_t parser;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(data);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        snprintf(err, errlen, "%s:%zu: invalid YAML: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "parse error");
        goto out;
    }
    f->loaded = 1;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root && root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s: a kubeconfig must be a mapping", path);
        goto out;
    }
    rc = 0;
out:
    yaml_parser_delete(&parser);
    free(data);
    return rc;
}

/* Reads "X-data" (base64) or "X" (a file path) from map into *out. Returns 0 (also when absent) or -1. */
static int load_pem_field(struct kc_file *f, yaml_node_t *map, const char *field, char **out, size_t *out_len,
                          char *err, size_t errlen)
{
    char key[128];
    int bad = 0;
    snprintf(key, sizeof key, "%s-data", field);
    const char *data = map_scalar(&f->doc, map, key, &bad);
    const char *path = map_scalar(&f->doc, map, field, &bad);
    if (bad) {
        snprintf(err, errlen, "%s: %s/%s must be a string", f->path, key, field);
        return -1;
    }
    if (data) {
        *out = tg_base64_decode_alloc(data, strlen(data), out_len);
        if (!*out) {
            snprintf(err, errlen, "%s: %s is not valid base64", f->path, key);
            return -1;
        }
        return 0;
    }
    if (path) {
        char full[PATH_MAX + 8], ferr[512];
        resolve_path(f->dir, path, full, sizeof full);
        *out = read_file_bounded(full, out_len, ferr, sizeof ferr);
        if (!*out) {
            snprintf(err, errlen, "%s: %s: %s", f->path, field, ferr);
            return -1;
        }
    }
    return 0;
}

static void trim_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* ---- public ----------------------------------------------------------------------------------- */

void tg_kube_config_free(struct tg_kube_config *cfg)
{
    free(cfg->ca_pem);
    free(cfg->client_cert_pem);
    free(cfg->client_key_pem);
    free(cfg->username);
    free(cfg->password);
    free(cfg->token);
    memset(cfg, 0, sizeof *cfg);
}

static int read_token_file(struct tg_kube_config *cfg, char *err, size_t errlen)
{
    char *t = read_file_bounded(cfg->token_file, NULL, err, errlen);
    if (!t)
        return -1;
    trim_trailing_space(t);
    if (!t[0] || strpbrk(t, "\r\n")) {
        snprintf(err, errlen, "%.512s: not a single-line token", cfg->token_file);
        free(t);
        return -1;
    }
    free(cfg->token);
    cfg->token = t;
    cfg->token_read_ms = tg_now_ms();
    return 0;
}

const char *tg_kube_config_token(struct tg_kube_config *cfg, int force)
{
    if (cfg->token_file[0] && (force || !cfg->token || tg_now_ms() - cfg->token_read_ms >= TG_KUBE_TOKEN_REREAD_MS)) {
        char err[1024];
        if (read_token_file(cfg, err, sizeof err) != 0) {
            static char last_err[1024];
            if (strcmp(last_err, err) != 0) { /* once per distinct failure, not per request */
                tg_warn("kube: cannot re-read the token (keeping the previous one): %s", err);
                snprintf(last_err, sizeof last_err, "%s", err);
            }
            cfg->token_read_ms = tg_now_ms(); /* try again after the period, not on every request */
        }
    }
    return cfg->token;
}

static int check_server(const char *server, const char *where, char *err, size_t errlen)
{
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        snprintf(err, errlen, "%s: server \"%s\" must start with https:// or http://", where, server);
        return -1;
    }
    for (const char *p = server; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "%s: server contains whitespace or control characters", where);
            return -1;
        }
    return 0;
}

int tg_kube_config_load_kubeconfig(struct tg_kube_config *cfg, const char *paths, const char *context,
                                   char *err, size_t errlen)
{
    struct kc_file *files = calloc(MAX_KUBECONFIG_FILES, sizeof *files);
    int nfiles = 0, rc = -1;
    memset(cfg, 0, sizeof *cfg);
    if (!files) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    /* Split the list; missing files in a list are skipped like kubectl does, but at least one must load. */
    char *list = strdup(paths), *save = NULL;
    char first_err[1024] = "";
    int listed = 0;
    for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (!p[0])
            continue;
        listed++;
        if (nfiles == MAX_KUBECONFIG_FILES) {
            snprintf(err, errlen, "more than %d kubeconfig files", MAX_KUBECONFIG_FILES);
            goto out;
        }
        char ferr[1024];
        if (load_yaml_file(&files[nfiles], p, ferr, sizeof ferr) != 0) {
            if (files[nfiles].loaded) { /* present but broken: that is an error, not a skip */
                snprintf(err, errlen, "%s", ferr);
                nfiles++;
                goto out;
            }
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "%s", ferr);
            continue;
        }
        nfiles++;
    }
    if (nfiles == 0) {
        snprintf(err, errlen, "%s", listed ? first_err : "no kubeconfig path given");
        goto out;
    }

    /* Context: explicit, else the first current-context set. */
    const char *ctx_name = context;
    int bad = 0;
    for (int i = 0; !ctx_name && i < nfiles; i++)
        ctx_name = map_scalar(&files[i].doc, root_of(&files[i]), "current-context", &bad);
    if (!ctx_name) {
        snprintf(err, errlen, "%s: no current-context (and no context given)", files[0].path);
        goto out;
    }
    snprintf(cfg->context, sizeof cfg->context, "%s", ctx_name);

    struct kc_file *cf = NULL, *clf = NULL, *uf = NULL;
    yaml_node_t *ctx = find_named(files, nfiles, "contexts", "context", ctx_name, &cf);
    if (!ctx) {
        snprintf(err, errlen, "%s: context \"%s\" not found", files[0].path, ctx_name);
        goto out;
    }
    const char *cluster_name = map_scalar(&cf->doc, ctx, "cluster", &bad);
    const char *user_name = map_scalar(&cf->doc, ctx, "user", &bad);
    const char *ns = map_scalar(&cf->doc, ctx, "namespace", &bad);
    if (bad || !cluster_name) {
        snprintf(err, errlen, "%s: context \"%s\" needs a cluster name", cf->path, ctx_name);
        goto out;
    }
    if (ns)
        snprintf(cfg->namespace_, sizeof cfg->namespace_, "%s", ns);

    yaml_node_t *cl = find_named(files, nfiles, "clusters", "cluster", cluster_name, &clf);
    if (!cl || cl->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s: cluster \"%s\" not found", cf->path, cluster_name);
        goto out;
    }
    const char *server = map_scalar(&clf->doc, cl, "server", &bad);
    if (bad || !server) {
        snprintf(err, errlen, "%s: cluster \"%s\": server is required", clf->path, cluster_name);
        goto out;
    }
    if (strlen(server) >= sizeof cfg->server) {
        snprintf(err, errlen, "%s: cluster \"%s\": server is too long", clf->path, cluster_name);
        goto out;
    }
    snprintf(cfg->server, sizeof cfg->server, "%s", server);
    size_t sl = strlen(cfg->server);
    while (sl > 0 && cfg->server[sl - 1] == '/')
        cfg->server[--sl] = '\0';
    if (check_server(cfg->server, clf->path, err, errlen) != 0)
        goto out;
    const char *insecure = map_scalar(&clf->doc, cl, "insecure-skip-tls-verify", &bad);
    if (insecure) {
        if (!strcmp(insecure, "true") || !strcmp(insecure, "True") || !strcmp(insecure, "TRUE"))
            cfg->insecure_skip_tls_verify = 1;
        else if (strcmp(insecure, "false") != 0 && strcmp(insecure, "False") != 0 && strcmp(insecure, "FALSE") != 0) {
            snprintf(err, errlen, "%s: cluster \"%s\": insecure-skip-tls-verify must be true or false",
                     clf->path, cluster_name);
            goto out;
        }
    }
    if (map_get(&clf->doc, cl, "tls-server-name") || map_get(&clf->doc, cl, "proxy-url"))
        tg_warn("kube: %s: cluster \"%s\": tls-server-name and proxy-url are not supported; ignored", clf->path,
                cluster_name);
    if (load_pem_field(clf, cl, "certificate-authority", &cfg->ca_pem, &cfg->ca_pem_len, err, errlen) != 0)
        goto out;
    if (cfg->insecure_skip_tls_verify && cfg->ca_pem) {
        /* kubectl refuses this combination; so do we, so the intent is never ambiguous. */
        snprintf(err, errlen, "%s: cluster \"%s\": certificate-authority and insecure-skip-tls-verify together",
                 clf->path, cluster_name);
        goto out;
    }

    if (user_name) {
        yaml_node_t *u = find_named(files, nfiles, "users", "user", user_name, &uf);
        if (!u) {
            snprintf(err, errlen, "%s: user \"%s\" not found", cf->path, user_name);
            goto out;
        }
        if (u->type == YAML_MAPPING_NODE) {
            if (map_get(&uf->doc, u, "exec") || map_get(&uf->doc, u, "auth-provider")) {
                snprintf(err, errlen, "%s: user \"%s\": exec and auth-provider credentials are not supported; "
                         "use a token, tokenFile or a client certificate", uf->path, user_name);
                goto out;
            }
            const char *token = map_scalar(&uf->doc, u, "token", &bad);
            const char *token_file = map_scalar(&uf->doc, u, "tokenFile", &bad);
            const char *username = map_scalar(&uf->doc, u, "username", &bad);
            const char *password = map_scalar(&uf->doc, u, "password", &bad);
            if (bad) {
                snprintf(err, errlen, "%s: user \"%s\": credentials must be strings", uf->path, user_name);
                goto out;
            }
            if (token) {
                if (strpbrk(token, "\r\n")) {
                    snprintf(err, errlen, "%s: user \"%s\": token has a line break", uf->path, user_name);
                    goto out;
                }
                cfg->token = strdup(token);
            } else if (token_file) {
                char full[PATH_MAX + 8];
                resolve_path(uf->dir, token_file, full, sizeof full);
                if (strlen(full) >= sizeof cfg->token_file) {
                    snprintf(err, errlen, "%s: user \"%s\": tokenFile path too long", uf->path, user_name);
                    goto out;
                }
                memcpy(cfg->token_file, full, strlen(full) + 1); /* length checked just above */
                char terr[1024];
                if (read_token_file(cfg, terr, sizeof terr) != 0) {
                    snprintf(err, errlen, "%s: user \"%s\": tokenFile: %s", uf->path, user_name, terr);
                    goto out;
                }
            }
            if (username) {
                cfg->username = xstrdup(username);
                cfg->password = xstrdup(password ? password : "");
            }
            if (load_pem_field(uf, u, "client-certificate", &cfg->client_cert_pem, &cfg->client_cert_pem_len,
                               err, errlen) != 0 ||
                load_pem_field(uf, u, "client-key", &cfg->client_key_pem, &cfg->client_key_pem_len, err,
                               errlen) != 0)
                goto out;
            if (!cfg->client_cert_pem != !cfg->client_key_pem) {
                snprintf(err, errlen, "%s: user \"%s\": client-certificate and client-key go together", uf->path,
                         user_name);
                goto out;
            }
        }
    }
    rc = 0;
out:
    for (int i = 0; i < MAX_KUBECONFIG_FILES; i++)
        if (files[i].loaded)
            yaml_document_delete(&files[i].doc);
    free(files);
    free(list);
    if (rc != 0)
        tg_kube_config_free(cfg);
    return rc;
}

int tg_kube_config_load_in_cluster(struct tg_kube_config *cfg, const char *sa_dir, const char *host,
                                   const char *port, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (!host || !host[0] || !port || !port[0]) {
        snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
        return -1;
    }
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9' || p - port > 5) {
            snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_PORT \"%s\" is not a port", port);
            return -1;
        }
    for (const char *p = host; *p; p++)
        if ((unsigned char)*p <= ' ' || strchr("/?#@[]", *p)) {
            snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST \"%s\" is not a host", host);
            return -1;
        }
    if (strchr(host, ':'))
        snprintf(cfg->server, sizeof cfg->server, "https://[%s]:%s", host, port);
    else
        snprintf(cfg->server, sizeof cfg->server, "https://%s:%s", host, port);
    snprintf(cfg->context, sizeof cfg->context, "in-cluster");

    char path[PATH_MAX + 32], ferr[600];
    snprintf(path, sizeof path, "%s/ca.crt", sa_dir);
    cfg->ca_pem = read_file_bounded(path, &cfg->ca_pem_len, ferr, sizeof ferr);
    if (!cfg->ca_pem) {
        snprintf(err, errlen, "in-cluster: %s", ferr);
        goto fail;
    }
    snprintf(cfg->token_file, sizeof cfg->token_file, "%s/token", sa_dir);
    if (read_token_file(cfg, ferr, sizeof ferr) != 0) {
        snprintf(err, errlen, "in-cluster: %s", ferr);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/namespace", sa_dir);
    char *ns = read_file_bounded(path, NULL, ferr, sizeof ferr);
    if (ns) {
        trim_trailing_space(ns);
        snprintf(cfg->namespace_, sizeof cfg->namespace_, "%s", ns);
        free(ns);
    }
    return 0;
fail:
    tg_kube_config_free(cfg);
    return -1;
}

int tg_kube_config_load_default(struct tg_kube_config *cfg, const char *kubeconfig_flag, char *err,
                                size_t errlen)
{
    if (kubeconfig_flag && kubeconfig_flag[0])
        return tg_kube_config_load_kubeconfig(cfg, kubeconfig_flag, NULL, err, errlen);
    const char *env = getenv("KUBECONFIG");
    if (env && env[0])
        return tg_kube_config_load_kubeconfig(cfg, env, NULL, err, errlen);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if (host && host[0])
        return tg_kube_config_load_in_cluster(cfg, TG_KUBE_SA_DIR, host, getenv("KUBERNETES_SERVICE_PORT"), err,
                                              errlen);
    const char *home = getenv("HOME");
    if (home && home[0]) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/.kube/config", home);
        return tg_kube_config_load_kubeconfig(cfg, path, NULL, err, errlen);
    }
    snprintf(err, errlen, "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod");
    return -1;
}
