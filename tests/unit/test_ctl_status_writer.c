/* test_ctl_status_writer.c — the status layer (status/status_writer.h over kube_status.c and kube_events.c) with
 * its real pieces: the store, a real translation, and the Kubernetes API client talking HTTP to an API-server
 * stand-in on 127.0.0.1 (common/mini_http_server.h on the test's own loop) that records every request.
 *
 * Covers: status comes from the translation and the acknowledged version — Pending before the data plane
 * acknowledged the version the object shipped in, Programmed after, Invalid (with a Warning Event) for an object
 * left out; the echo of our own write (a status-only store change) writes nothing; someone else's status edit is
 * overwritten at once from the last translation; a report whose object did not change keeps the version it first
 * shipped in; the writer's metrics. */
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "log.h"
#include "mini_http_server.h"
#include "status/status_writer.h"
#include "translate/translate.h"
#include "clock.h"
#include "tg_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQ 32

struct apiserver {
    struct tg_mini_server srv;
    size_t n;
    char method[MAX_REQ][16];
    char path[MAX_REQ][256];
    json_t *body[MAX_REQ];
};

static void on_request(struct tg_mini_request *req, void *ctx)
{
    struct apiserver *a = ctx;
    if (a->n < MAX_REQ) {
        snprintf(a->method[a->n], sizeof a->method[a->n], "%s", req->method);
        snprintf(a->path[a->n], sizeof a->path[a->n], "%s", req->path);
        json_error_t jerr;
        a->body[a->n] = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    }
    a->n++;
    tg_mini_respond_json(req->conn, strcmp(req->method, "POST") == 0 ? 201 : 200, "{}");
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void run_ms(struct ev_loop *loop, uint64_t ms)
{
    uint64_t end = tg_now_ms() + ms;
    while (tg_now_ms() < end)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT), usleep(1000);
}

/* Index of the first PATCH at or after `from` whose path ends with name "/status", or -1. */
static int find_patch(const struct apiserver *a, size_t from, const char *name)
{
    char suffix[128];
    snprintf(suffix, sizeof suffix, "/%s/status", name);
    for (size_t i = from; i < a->n && i < MAX_REQ; i++) {
        size_t pl = strlen(a->path[i]), sl = strlen(suffix);
        if (strcmp(a->method[i], "PATCH") == 0 && pl >= sl && strcmp(a->path[i] + pl - sl, suffix) == 0)
            return (int)i;
    }
    return -1;
}

static const char *condition(const json_t *patch, const char *type, const char *field)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(patch, "status"), "conditions"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
            return json_string_value(json_object_get(c, field));
    }
    return NULL;
}

static void put(struct tg_store *s, json_t *obj, enum tg_kind kind, int expect)
{
    struct tg_object_origin kube = {"kube", 0};
    CHECK_EQ_INT(tg_store_put(s, kind, obj, &kube), expect);
}

static json_t *proxy(const char *name, const char *base_path, const char *rv, const json_t *status)
{
    json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s,s:i,s:s,s:s},s:{s:[s],s:s,s:{s:s}}}", "apiVersion",
                          "tollgate.dev/v1alpha1", "kind", "ApiProxy", "metadata", "name", name, "namespace", "apis",
                          "generation", 1, "resourceVersion", rv, "uid", name, "spec", "environments", "prod",
                          "basePath", base_path, "target", "url", "http://127.0.0.1:9");
    if (status)
        json_object_set_new(o, "status", json_deep_copy(status));
    return o;
}

/* The watch shows what we wrote: the object with the patch's status and a new resourceVersion. */
static void echo(struct tg_store *s, const struct apiserver *a, int i, const char *name, const char *base_path,
                 const char *rv)
{
    put(s, proxy(name, base_path, rv, json_object_get(a->body[i], "status")), TG_KIND_API_PROXY, TG_STORE_REFRESHED);
}

static json_t *group_obj(const char *rv, const json_t *status)
{
    json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s,s:i,s:s},s:{s:[s],s:[s]}}", "apiVersion", "tollgate.dev/v1alpha1",
                          "kind", "EnvironmentGroup", "metadata", "name", "public", "namespace", "apis", "generation",
                          1, "resourceVersion", rv, "spec", "hostnames", "api.example.com", "environments", "prod");
    if (status)
        json_object_set_new(o, "status", json_deep_copy(status));
    return o;
}

int main(void)
{
    tg_log_set_level(TG_LOG_ERROR);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct apiserver api = {0};
    int port = free_port();
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d", port);
    CHECK_EQ_INT(tg_mini_server_listen(&api.srv, loop, where, 1 << 20, on_request, &api), 0);
    struct tg_kube_config cfg = {0};
    snprintf(cfg.server, sizeof cfg.server, "http://127.0.0.1:%d", port);
    cfg.token = strdup("test-token");
    struct tg_kube_client *client = tg_kube_client_new(loop, &cfg);
    CHECK(client != NULL);

    /* two proxies claim /chat: "chat" (older by name, no timestamps) wins, "late" is left out */
    struct tg_store *store = tg_store_new();
    put(store, group_obj("9", NULL), TG_KIND_ENVIRONMENT_GROUP, TG_STORE_CHANGED);
    put(store, proxy("chat", "/chat", "10", NULL), TG_KIND_API_PROXY, TG_STORE_CHANGED);
    put(store, proxy("late", "/chat", "11", NULL), TG_KIND_API_PROXY, TG_STORE_CHANGED);
    struct tg_translation t = {0};
    CHECK_EQ_INT(tg_translate(store, &t), 0);

    char err[256] = "";
    struct tg_status_writer_opts wo = {.identity = "test-replica"};
    struct tg_status_writer *w = tg_status_writer_new(client, store, &wo, err, sizeof err);
    CHECK(w != NULL);
    tg_status_writer_start(w); /* no leader election: writes at once */

    /* reported as shipping in version 1, not acknowledged yet: Pending; the conflicted one: Invalid + Event */
    tg_status_writer_report(w, 1, &t);
    tg_translation_free(&t);
    run_ms(loop, 600);
    int chat = find_patch(&api, 0, "chat"), late = find_patch(&api, 0, "late"), group = find_patch(&api, 0, "public");
    CHECK(chat >= 0 && late >= 0 && group >= 0);
    if (chat < 0 || late < 0 || group < 0)
        goto out;
    CHECK_EQ_STR(api.path[chat], "/apis/tollgate.dev/v1alpha1/namespaces/apis/apiproxies/chat/status");
    CHECK_EQ_STR(condition(api.body[chat], "Accepted", "status"), "True");
    CHECK_EQ_STR(condition(api.body[chat], "Programmed", "reason"), "Pending");
    CHECK_EQ_STR(condition(api.body[late], "Accepted", "reason"), "Conflicted");
    CHECK_EQ_STR(condition(api.body[late], "Programmed", "reason"), "Invalid");
    CHECK(json_array_size(json_object_get(json_object_get(api.body[late], "status"), "hostnames")) == 0);
    int events = 0;
    for (size_t i = 0; i < api.n && i < MAX_REQ; i++)
        events += strcmp(api.method[i], "POST") == 0 && strstr(api.path[i], "/events") != NULL;
    CHECK_EQ_INT(events, 1);

    /* the watch shows our writes: status-only changes, re-checked one by one, nothing written again */
    echo(store, &api, chat, "chat", "/chat", "12");
    tg_status_writer_recheck(w, TG_KIND_API_PROXY, "apis", "chat");
    echo(store, &api, late, "late", "/chat", "13");
    tg_status_writer_recheck(w, TG_KIND_API_PROXY, "apis", "late");
    put(store, group_obj("14", json_object_get(api.body[group], "status")), TG_KIND_ENVIRONMENT_GROUP,
        TG_STORE_REFRESHED);
    tg_status_writer_recheck(w, TG_KIND_ENVIRONMENT_GROUP, "apis", "public");
    size_t before = api.n;
    run_ms(loop, 100);
    CHECK_EQ_INT(api.n, before);

    /* the data plane acknowledged version 1: Programmed=True for the served proxy, nothing for the other */
    tg_status_writer_acknowledged(w, 1);
    run_ms(loop, 600);
    int chat2 = find_patch(&api, before, "chat"), group2 = find_patch(&api, before, "public");
    CHECK(chat2 >= 0 && group2 >= 0);
    CHECK(find_patch(&api, before, "late") < 0);
    if (chat2 < 0 || group2 < 0)
        goto out;
    put(store, group_obj("15", json_object_get(api.body[group2], "status")), TG_KIND_ENVIRONMENT_GROUP,
        TG_STORE_REFRESHED);
    CHECK_EQ_STR(condition(api.body[chat2], "Programmed", "status"), "True");
    CHECK_EQ_STR(condition(api.body[chat2], "Programmed", "reason"), "Programmed");
    echo(store, &api, chat2, "chat", "/chat", "16");
    tg_status_writer_recheck(w, TG_KIND_API_PROXY, "apis", "chat");

    /* someone else edits the status: the writer puts its own back at once (no settle wait, no translation) */
    json_t *foreign = json_pack("{s:i,s:[]}", "endpoints", 99, "conditions");
    put(store, proxy("chat", "/chat", "17", foreign), TG_KIND_API_PROXY, TG_STORE_REFRESHED);
    json_decref(foreign);
    before = api.n;
    tg_status_writer_recheck(w, TG_KIND_API_PROXY, "apis", "chat");
    run_ms(loop, 200);
    int chat3 = find_patch(&api, before, "chat");
    CHECK(chat3 >= 0);
    if (chat3 >= 0) {
        CHECK_EQ_STR(condition(api.body[chat3], "Programmed", "status"), "True");
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(api.body[chat3], "status"), "endpoints")), 1);
        echo(store, &api, chat3, "chat", "/chat", "18");
    }

    /* a new translation ships as version 2 with "chat" unchanged: it stays Programmed (its version is still 1) */
    CHECK_EQ_INT(tg_translate(store, &t), 0);
    before = api.n;
    tg_status_writer_report(w, 2, &t);
    tg_translation_free(&t);
    run_ms(loop, 600);
    CHECK_EQ_INT(api.n, before); /* nothing at all: every object's status is current */

    char text[4096];
    size_t len = tg_status_writer_metrics(w, text, sizeof text);
    CHECK(len > 0 && strstr(text, "tollgate_controller_leader 1\n") != NULL);
    /* chat (Pending, Programmed, restored), late, public (Pending, Programmed) */
    CHECK(strstr(text, "tollgate_controller_status_writes_total 6\n") != NULL);
    if (!strstr(text, "tollgate_controller_status_writes_total 6\n"))
        for (size_t i = 0; i < api.n && i < MAX_REQ; i++)
            fprintf(stderr, "%s %s %s\n", api.method[i], api.path[i], condition(api.body[i], "Programmed", "reason"));
    CHECK(strstr(text, "tollgate_controller_events_total 1\n") != NULL);
out:
    tg_status_writer_free(w);
    tg_kube_client_free(client);
    tg_kube_config_free(&cfg);
    tg_store_free(store);
    tg_mini_server_close(&api.srv);
    for (size_t i = 0; i < api.n && i < MAX_REQ; i++)
        json_decref(api.body[i]);
    ev_loop_destroy(loop);
    TG_TEST_MAIN_END();
}
