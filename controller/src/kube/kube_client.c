/* kube_client.c — requests to the API server on the controller's loop; see kube_client.h.
 *
 * The libcurl/libev glue is curl_ev.h. libcurl forbids re-entering the multi handle from its own callbacks (the
 * write callback, and so on_data, runs inside curl_multi_socket_action), so a request started or cancelled
 * while curl is on the stack is only marked, and added or removed by settle() once curl has returned.
 */
#include "kube/kube_client.h"

#include "clock.h"
#include "curl_ev.h"
#include "log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_AGENT "tollgate-controller/0.1"
#define MAX_ERROR_BODY (1u << 20)

struct tg_kube_request {
    struct tg_kube_client *c;
    CURL *easy;
    struct curl_slist *headers;
    char *req_body;
    struct tg_curl_body body;
    tg_kube_data_cb on_data;
    tg_kube_done_cb on_done;
    void *arg;
    long status;
    uint64_t started_ms;
    unsigned added : 1;        /* handed to the multi handle */
    unsigned cancelled : 1;    /* the caller cancelled: never call on_done; free at a safe point */
    unsigned aborted : 1;      /* on_data asked to stop */
    char errbuf[CURL_ERROR_SIZE];
    struct tg_kube_request *prev, *next;
};

struct tg_kube_client {
    struct ev_loop *loop;
    struct tg_kube_config *cfg;
    struct tg_curl_ev *ev;
    int dirty;                      /* requests wait to be added or removed */
    struct tg_kube_request *reqs;   /* every live request */
    struct tg_kube_client_stats stats;
    int unreachable;                /* the last attempt got no HTTP response (logged once per change) */
};

static void link_req(struct tg_kube_client *c, struct tg_kube_request *r)
{
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
}

static void unlink_req(struct tg_kube_client *c, struct tg_kube_request *r)
{
    if (c->reqs == r)
        c->reqs = r->next;
    else if (r->prev)
        r->prev->next = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void free_req(struct tg_kube_request *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->req_body);
    tg_curl_body_free(&r->body);
    free(r);
}

/* Removes r from curl and frees it (only when curl is not on the stack). */
static void drop_req(struct tg_kube_client *c, struct tg_kube_request *r)
{
    if (r->added)
        curl_multi_remove_handle(tg_curl_ev_multi(c->ev), r->easy);
    unlink_req(c, r);
    free_req(r);
}

/* curl_ev's done hook: r's transfer ended (r is out of the multi handle already). */
static void finish(void *ud, void *req, CURLcode res)
{
    struct tg_kube_client *c = ud;
    struct tg_kube_request *r = req;
    r->added = 0;
    unlink_req(c, r);
    if (r->cancelled) {
        free_req(r);
        return;
    }
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    struct tg_kube_response resp = {.status = status, .body = r->body.data ? r->body.data : "",
                                    .body_len = r->body.len};
    char msg[CURL_ERROR_SIZE + 64];
    if (res != CURLE_OK) {
        if (r->aborted)
            resp.error = "aborted";
        else if (r->body.too_large)
            resp.error = "response body over the size limit";
        else {
            snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
            resp.error = msg;
        }
        c->stats.failures++;
    }
    /* Reachability is logged once per change of state, not once per failed attempt (retries back off). */
    if (status == 0 && res != CURLE_OK && !r->aborted && !r->body.too_large) {
        if (!c->unreachable)
            tg_warn("kube: API server %s unreachable: %s; retrying with backoff", c->cfg->server, resp.error);
        c->unreachable = 1;
    } else if (status != 0 && c->unreachable) {
        tg_info("kube: API server %s reachable again", c->cfg->server);
        c->unreachable = 0;
    }
    if (status == 401) {
        c->stats.unauthorized++;
        tg_kube_config_token(c->cfg, 1); /* a rotated token file: read it before the caller retries */
    }
    resp.seconds = (double)(tg_now_ms() - r->started_ms) / 1000.0;
    r->on_done(r->arg, &resp);
    free_req(r);
}

/* curl_ev's settle hook: adds requests started while curl was busy, removes those cancelled meanwhile. A
 * request curl refuses is finished with an error after the scan (its callback may start or cancel others). */
static void settle(void *ud)
{
    struct tg_kube_client *c = ud;
    if (!c->dirty || tg_curl_ev_busy(c->ev))
        return;
    c->dirty = 0;
    struct tg_kube_request *failed = NULL, *r = c->reqs;
    while (r) {
        struct tg_kube_request *next = r->next;
        if (r->cancelled) {
            drop_req(c, r);
        } else if (!r->added) {
            if (curl_multi_add_handle(tg_curl_ev_multi(c->ev), r->easy) == CURLM_OK) {
                r->added = 1;
            } else {
                unlink_req(c, r);
                r->next = failed;
                failed = r;
            }
        }
        r = next;
    }
    while (failed) {
        r = failed;
        failed = r->next;
        snprintf(r->errbuf, sizeof r->errbuf, "cannot start the request");
        struct tg_kube_response resp = {.error = r->errbuf, .body = ""};
        r->on_done(r->arg, &resp);
        free_req(r);
    }
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct tg_kube_request *r = ud;
    size_t len = size * n;
    if (r->cancelled)
        return 0;
    if (!r->status)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->on_data && r->status >= 200 && r->status < 300) {
        if (r->on_data(r->arg, p, len) != 0) {
            r->aborted = 1;
            return 0;
        }
        return r->cancelled ? 0 : len;
    }
    size_t max = r->on_data ? MAX_ERROR_BODY : TG_KUBE_MAX_BODY_BYTES;
    return tg_curl_body_append(&r->body, p, len, max) == 0 ? len : 0;
}

struct tg_kube_client *tg_kube_client_new(struct ev_loop *loop, struct tg_kube_config *cfg)
{
    struct tg_kube_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->cfg = cfg;
    const struct tg_curl_ev_hooks hooks = {.done = finish, .settle = settle};
    c->ev = tg_curl_ev_new(loop, &hooks, c);
    if (!c->ev) {
        free(c);
        return NULL;
    }
    /* HTTP/2: many requests (all watches) on one connection, as the API server expects of controllers. */
    curl_multi_setopt(tg_curl_ev_multi(c->ev), CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return c;
}

void tg_kube_client_free(struct tg_kube_client *c)
{
    if (!c)
        return;
    struct tg_kube_request *r = c->reqs;
    c->reqs = NULL;
    while (r) {
        struct tg_kube_request *next = r->next;
        if (r->added)
            curl_multi_remove_handle(tg_curl_ev_multi(c->ev), r->easy);
        free_req(r);
        r = next;
    }
    tg_curl_ev_free(c->ev);
    free(c);
}

static int setup_easy(struct tg_kube_client *c, struct tg_kube_request *r, const struct tg_kube_request_opts *o)
{
    const struct tg_kube_config *cfg = c->cfg;
    CURL *e = r->easy;
    size_t url_len = strlen(cfg->server) + strlen(o->path) + 1;
    char *url = malloc(url_len);
    if (!url)
        return -1;
    snprintf(url, url_len, "%s%s", cfg->server, o->path);
    int bad = curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    free(url);
    if (bad)
        return -1;
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L); /* prefer waiting for a multiplexed connection */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip for large lists */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    if (o->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);

    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (cfg->ca_pem) {
        struct curl_blob blob = {.data = cfg->ca_pem, .len = cfg->ca_pem_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (cfg->client_cert_pem && cfg->client_key_pem) {
        struct curl_blob cert = {.data = cfg->client_cert_pem, .len = cfg->client_cert_pem_len,
                                 .flags = CURL_BLOB_NOCOPY};
        struct curl_blob key = {.data = cfg->client_key_pem, .len = cfg->client_key_pem_len,
                                .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (cfg->username) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }

    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    const char *token = tg_kube_config_token(c->cfg, 0);
    if (token) {
        size_t n = strlen(token) + 32;
        char *auth = malloc(n);
        if (!auth)
            goto fail_headers;
        snprintf(auth, n, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
        memset(auth, 0, n);
        free(auth);
    }
    if (o->body) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s", o->content_type ? o->content_type : "application/json");
        h = curl_slist_append(h, ct);
        r->req_body = malloc(o->body_len + 1);
        if (!r->req_body)
            goto fail_headers;
        memcpy(r->req_body, o->body, o->body_len);
        r->req_body[o->body_len] = '\0';
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    if (!h)
        return -1;
    r->headers = h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (strcmp(o->method, "GET") != 0 && !(strcmp(o->method, "POST") == 0 && o->body))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    return 0;
fail_headers:
    curl_slist_free_all(h);
    return -1;
}

struct tg_kube_request *tg_kube_request_start(struct tg_kube_client *c, const struct tg_kube_request_opts *o)
{
    if (!o->path || o->path[0] != '/' || !o->method || !o->on_done)
        return NULL;
    struct tg_kube_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->c = c;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->arg = o->arg;
    r->started_ms = tg_now_ms();
    r->easy = curl_easy_init();
    if (!r->easy || setup_easy(c, r, o) != 0) {
        free_req(r);
        return NULL;
    }
    link_req(c, r);
    c->stats.requests++;
    if (tg_curl_ev_busy(c->ev)) {
        c->dirty = 1; /* added by settle() once curl is off the stack */
        return r;
    }
    if (curl_multi_add_handle(tg_curl_ev_multi(c->ev), r->easy) != CURLM_OK) {
        unlink_req(c, r);
        free_req(r);
        return NULL;
    }
    r->added = 1;
    return r;
}

void tg_kube_request_cancel(struct tg_kube_request *r)
{
    if (!r)
        return;
    struct tg_kube_client *c = r->c;
    if (tg_curl_ev_busy(c->ev)) {
        r->cancelled = 1;
        c->dirty = 1;
        return;
    }
    drop_req(c, r);
}

const struct tg_kube_client_stats *tg_kube_client_stats(const struct tg_kube_client *c)
{
    return &c->stats;
}

struct ev_loop *tg_kube_client_loop(const struct tg_kube_client *c)
{
    return c->loop;
}

const char *tg_kube_describe_error(const struct tg_kube_response *resp, const char *verb, const char *resource,
                                   char *out, size_t outlen)
{
    char message[512] = "";
    if (resp->body_len && resp->body[0] == '{') {
        json_t *st = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *m = st ? json_string_value(json_object_get(st, "message")) : NULL;
        if (m)
            snprintf(message, sizeof message, "%s", m);
        json_decref(st);
    }
    if (!message[0] && resp->body_len && resp->status) {
        /* Not a Status object: show the start of it, without control characters. */
        size_t i = 0;
        for (; i < resp->body_len && i < 200 && i + 1 < sizeof message; i++)
            message[i] = (unsigned char)resp->body[i] < ' ' ? ' ' : resp->body[i];
        message[i] = '\0';
    }
    if (resp->status == 0 || (resp->error && resp->status >= 200 && resp->status < 300))
        snprintf(out, outlen, "%s %s: %s", verb, resource, resp->error ? resp->error : "no response");
    else if (resp->status == 403)
        snprintf(out, outlen,
                 "403 Forbidden: the controller's identity may not %s %s; grant it in a (Cluster)Role "
                 "bound to its service account (API server: %s)",
                 verb, resource, message[0] ? message : "forbidden");
    else if (resp->status == 401)
        snprintf(out, outlen, "401 Unauthorized: the API server rejected the controller's credentials on %s %s",
                 verb, resource);
    else
        snprintf(out, outlen, "%s %s: HTTP %ld%s%s", verb, resource, resp->status, message[0] ? ": " : "",
                 message);
    return out;
}

char *tg_kube_query_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int unreserved = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                         ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (o + (unreserved ? 1 : 3) + 1 > outlen)
            return NULL;
        if (unreserved) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}
