/* test_dp_snapshot.c — snapshot validation (strict, whole-document errors) and routing: exact beats wildcard,
 * longer wildcard beats shorter, longest base path on a segment boundary, path rewriting. */
#include "config/router.h"
#include "config/upstream_tls.h"
#include "process/policy_compiler.h"
#include "tg_test.h"

#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    if (!doc)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return doc;
}

static const char *route_proxy(const struct tg_snapshot *s, const char *host, const char *path)
{
    struct tg_route_match m = tg_snapshot_route(s, host, strlen(host), path, strlen(path));
    if (!m.group)
        return "no-group";
    if (!m.route)
        return "no-proxy";
    return m.route->proxy->id;
}

static const char *GOOD =
    "{\"version\":3,\"groups\":["
    " {\"id\":\"a/exact\",\"hostnames\":[\"api.example.com\"],\"environments\":[\"prod\"]},"
    " {\"id\":\"a/wild\",\"hostnames\":[\"*.example.com\"],\"environments\":[\"test\"]},"
    " {\"id\":\"a/wilder\",\"hostnames\":[\"*.ws.example.com\"],\"environments\":[\"prod\",\"test\"]}],"
    "\"proxies\":["
    " {\"id\":\"a/root\",\"environments\":[\"prod\"],\"basePath\":\"/\",\"target\":{\"endpoints\":[]}},"
    " {\"id\":\"a/chat\",\"environments\":[\"prod\"],\"basePath\":\"/chat\",\"stripBasePath\":true,"
    "  \"target\":{\"pathPrefix\":\"/svc\",\"endpoints\":[{\"address\":\"10.0.0.1\",\"port\":80},"
    "  {\"address\":\"::1\",\"port\":8080}]}},"
    " {\"id\":\"a/chatdeep\",\"environments\":[\"prod\"],\"basePath\":\"/chat/rooms\",\"stripBasePath\":false,"
    "  \"target\":{\"endpoints\":[]}},"
    " {\"id\":\"a/test\",\"environments\":[\"test\"],\"basePath\":\"/t\",\"target\":{\"endpoints\":[]}}]}";

/* target.tls: one address:port plain and with TLS (and with two TLS settings) is three endpoints of one name, so
 * no pooled connection or TLS session is shared across settings; settings that cannot work refuse the snapshot. */
static void test_target_tls(void)
{
    static const char *fmt =
        "{\"version\":1,\"groups\":[],\"proxies\":["
        " {\"id\":\"t/plain\",\"environments\":[\"p\"],\"basePath\":\"/a\",\"target\":{\"endpoints\":"
        "  [{\"address\":\"10.0.0.7\",\"port\":443}]}},"
        " {\"id\":\"t/tls\",\"environments\":[\"p\"],\"basePath\":\"/b\",\"target\":{\"endpoints\":"
        "  [{\"address\":\"10.0.0.7\",\"port\":443}],\"tls\":{\"enabled\":true,\"serverName\":\"b.example\"}}},"
        " {\"id\":\"t/tls2\",\"environments\":[\"p\"],\"basePath\":\"/c\",\"target\":{\"endpoints\":"
        "  [{\"address\":\"10.0.0.7\",\"port\":443}],\"tls\":{\"enabled\":true,\"serverName\":\"c.example\"%s}}}]}";
    char text[2048];
    snprintf(text, sizeof text, fmt, "");
    json_t *errors = json_array();
    json_t *doc = parse(text);
    struct tg_snapshot *s = tg_snapshot_build(doc, NULL, errors);
    CHECK(s != NULL);
    if (s) {
        const struct tg_proxy_cfg *a = tg_snapshot_find_proxy(s, "t/plain"), *b = tg_snapshot_find_proxy(s, "t/tls"),
                                   *c = tg_snapshot_find_proxy(s, "t/tls2");
        CHECK(a && b && c && !a->tls && b->tls && c->tls);
        if (a && b && c && b->tls && c->tls) {
            CHECK(a->endpoints[0] != b->endpoints[0] && b->endpoints[0] != c->endpoints[0]);
            CHECK(!a->endpoints[0]->tls && b->endpoints[0]->tls);
            CHECK_EQ_STR(b->endpoints[0]->name, "10.0.0.7:443");
            CHECK(strcmp(b->tls->profile, c->tls->profile) != 0);
            CHECK_EQ_STR(b->tls->server_name, "b.example");
            CHECK(b->tls->verify && !b->tls->client_cert);
        }
        tg_snapshot_unref(s);
    }
    json_decref(doc);
    static const char *const bad[][2] = {
        {",\"caPem\":\"junk\"", "caPem: no PEM certificate"},
        {",\"clientKeyPem\":\"x\"", "clientCertPem and clientKeyPem go together"},
        {",\"insecureSkipVerify\":1", "insecureSkipVerify: must be true or false"},
        {",\"verify\":true", "tls.verify: unknown field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, fmt, bad[i][0]);
        json_array_clear(errors);
        doc = parse(text);
        s = tg_snapshot_build(doc, NULL, errors);
        CHECK(s == NULL);
        int found = 0;
        for (size_t e = 0; e < json_array_size(errors); e++)
            found |= strstr(json_string_value(json_array_get(errors, e)), bad[i][1]) != NULL;
        CHECK(found);
        if (!found)
            json_dumpf(errors, stderr, 0);
        tg_snapshot_unref(s);
        json_decref(doc);
    }
    json_decref(errors);
}

/* "encodedSlashes": absent leaves the proxy to --encoded-slashes; reject|keep|decode set it; anything else
 * (another word, another case, another type) refuses the snapshot naming the field. */
static void test_encoded_slashes(void)
{
    static const char *fmt = "{\"version\":1,\"groups\":[],\"proxies\":["
                             " {\"id\":\"e/unset\",\"environments\":[\"p\"],\"basePath\":\"/a\","
                             "  \"target\":{\"endpoints\":[]}},"
                             " {\"id\":\"e/set\",\"environments\":[\"p\"],\"basePath\":\"/b\","
                             "  \"encodedSlashes\":%s,\"target\":{\"endpoints\":[]}}]}";
    static const struct {
        const char *value;
        int ok;
        enum tg_encoded_slashes mode;
    } cases[] = {{"\"reject\"", 1, TG_ENCODED_SLASHES_REJECT}, {"\"keep\"", 1, TG_ENCODED_SLASHES_KEEP},
                 {"\"decode\"", 1, TG_ENCODED_SLASHES_DECODE}, {"\"Decode\"", 0, 0},
                 {"\"\"", 0, 0}, {"true", 0, 0}, {"null", 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024];
        snprintf(text, sizeof text, fmt, cases[i].value);
        json_t *errors = json_array(), *doc = parse(text);
        struct tg_snapshot *s = tg_snapshot_build(doc, NULL, errors);
        CHECK((s != NULL) == cases[i].ok);
        if (s) {
            const struct tg_proxy_cfg *u = tg_snapshot_find_proxy(s, "e/unset"), *p = tg_snapshot_find_proxy(s, "e/set");
            CHECK(u && p && !u->has_encoded_slashes && p->has_encoded_slashes);
            CHECK(p && p->encoded_slashes == cases[i].mode);
        } else {
            int found = 0;
            for (size_t e = 0; e < json_array_size(errors); e++)
                found |= strstr(json_string_value(json_array_get(errors, e)), "encodedSlashes") != NULL;
            CHECK(found);
        }
        tg_snapshot_unref(s);
        json_decref(doc);
        json_decref(errors);
    }
}

int main(void)
{
    test_encoded_slashes();
    test_target_tls();
    json_t *errors = json_array();
    json_t *doc = parse(GOOD);
    struct tg_snapshot *s = tg_snapshot_build(doc, &tg_registered_policies, errors);
    CHECK(s != NULL);
    CHECK_EQ_INT(json_array_size(errors), 0);
    if (!s) {
        json_dumpf(errors, stderr, 0);
        TG_TEST_MAIN_END();
    }
    CHECK_EQ_INT(s->version, 3);

    /* hosts: exact beats wildcard; longer wildcard beats shorter; case and port ignored */
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/x"), "a/root");
    CHECK_EQ_STR(route_proxy(s, "API.Example.COM:8080", "/chat"), "a/chat");
    CHECK_EQ_STR(route_proxy(s, "foo.example.com", "/t/1"), "a/test");
    CHECK_EQ_STR(route_proxy(s, "a.b.example.com", "/t"), "a/test");
    CHECK_EQ_STR(route_proxy(s, "x.ws.example.com", "/chat/1"), "a/chat"); /* wilder: prod+test */
    CHECK_EQ_STR(route_proxy(s, "example.com", "/"), "no-group");
    CHECK_EQ_STR(route_proxy(s, "other.org", "/"), "no-group");
    CHECK_EQ_STR(route_proxy(s, "foo.example.com", "/chat"), "no-proxy"); /* test env has no /chat */

    /* base paths: longest on a segment boundary */
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chat"), "a/chat");
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chat/"), "a/chat");
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chat?x=1"), "a/chat");
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chatroom"), "a/root");
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chat/rooms/7"), "a/chatdeep");
    CHECK_EQ_STR(route_proxy(s, "api.example.com", "/chat/roomsX"), "a/chat");

    /* environment reported: the group's first environment the proxy is in */
    struct tg_route_match m = tg_snapshot_route(s, "x.ws.example.com", 16, "/t", 2);
    CHECK(m.route && strcmp(m.route->environment, "test") == 0);

    /* rewriting */
    const struct tg_proxy_cfg *chat = tg_snapshot_find_proxy(s, "a/chat");
    const struct tg_proxy_cfg *deep = tg_snapshot_find_proxy(s, "a/chatdeep");
    const struct tg_proxy_cfg *root = tg_snapshot_find_proxy(s, "a/root");
    CHECK(chat && deep && root);
    char out[256];
    tg_route_rewrite_path(chat, "/chat/room/1?x=1", 16, out, sizeof out);
    CHECK_EQ_STR(out, "/svc/room/1?x=1");
    tg_route_rewrite_path(chat, "/chat", 5, out, sizeof out);
    CHECK_EQ_STR(out, "/svc");
    tg_route_rewrite_path(chat, "/chat?a", 7, out, sizeof out);
    CHECK_EQ_STR(out, "/svc?a");
    tg_route_rewrite_path(deep, "/chat/rooms/1", 13, out, sizeof out);
    CHECK_EQ_STR(out, "/chat/rooms/1");
    tg_route_rewrite_path(root, "/anything", 9, out, sizeof out);
    CHECK_EQ_STR(out, "/anything");
    CHECK_EQ_INT(tg_route_rewrite_path(chat, "/chat/x", 7, out, 4), -1);

    /* defaults and endpoints */
    CHECK_EQ_INT(chat->num_endpoints, 2);
    CHECK_EQ_STR(chat->endpoints[1]->name, "[::1]:8080");
    CHECK_EQ_INT(chat->connect_timeout_ms, 5000);
    CHECK_EQ_INT(chat->ws_idle_timeout_ms, 300000);
    CHECK(chat->ws_enabled);
    CHECK_EQ_INT(chat->lb, TG_LB_ROUND_ROBIN);

    /* the same endpoint in two snapshots is the same registry entry */
    json_t *errors2 = json_array();
    struct tg_snapshot *s2 = tg_snapshot_build(doc, &tg_registered_policies, errors2);
    CHECK(s2 && tg_snapshot_find_proxy(s2, "a/chat")->endpoints[0] == chat->endpoints[0]);
    tg_snapshot_unref(s2);
    json_decref(errors2);
    tg_snapshot_unref(s);
    json_decref(doc);

    /* invalid documents: every problem reported, nothing built */
    static const struct {
        const char *json;
        const char *expect;
    } bad[] = {
        {"{\"version\":0,\"groups\":[],\"proxies\":[]}", "snapshot.version"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[],\"extra\":1}", "snapshot.extra: unknown field"},
        {"{\"version\":1,\"groups\":[{\"id\":\"g\",\"hostnames\":[\"Bad_Host\"],\"environments\":[]}],\"proxies\":[]}",
         "groups[0].hostnames[0]"},
        {"{\"version\":1,\"groups\":[{\"id\":\"g\",\"hostnames\":[\"a.com\"],\"environments\":[]},"
         "{\"id\":\"h\",\"hostnames\":[\"a.com\"],\"environments\":[]}],\"proxies\":[]}",
         "already claimed"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"chat\","
         "\"target\":{\"endpoints\":[]}}]}",
         "proxies[0].basePath"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a/../b\","
         "\"target\":{\"endpoints\":[]}}]}",
         "proxies[0].basePath"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\","
         "\"target\":{\"endpoints\":[{\"address\":\"example.com\",\"port\":80}]}}]}",
         "not an IPv4 or IPv6 literal"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\","
         "\"target\":{\"endpoints\":[{\"address\":\"1.2.3.4\",\"port\":70000}]}}]}",
         "out of range"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\","
         "\"target\":{\"endpoints\":[],\"loadBalancing\":\"fastest\"}}]}",
         "loadBalancing"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\","
         "\"target\":{\"endpoints\":[]},\"policies\":[{\"type\":\"noSuchPolicy\"}]}]}",
         "unknown policy"},
        {"{\"version\":1,\"groups\":[{\"id\":\"g\",\"hostnames\":[\"a.com\"],\"environments\":[\"e\"]}],\"proxies\":["
         "{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\",\"target\":{\"endpoints\":[]}},"
         "{\"id\":\"q\",\"environments\":[\"e\"],\"basePath\":\"/a\",\"target\":{\"endpoints\":[]}}]}",
         "claimed by p too"},
        {"{\"version\":1,\"groups\":[],\"proxies\":[{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/a\","
         "\"target\":{\"endpoints\":[]}},{\"id\":\"p\",\"environments\":[\"e\"],\"basePath\":\"/b\","
         "\"target\":{\"endpoints\":[]}}]}",
         "appears more than once"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *d = parse(bad[i].json);
        json_t *errs = json_array();
        struct tg_snapshot *b = tg_snapshot_build(d, &tg_registered_policies, errs);
        CHECK(b == NULL);
        int found = 0;
        size_t k;
        json_t *e;
        json_array_foreach(errs, k, e) found |= strstr(json_string_value(e), bad[i].expect) != NULL;
        CHECK(found);
        if (!found) {
            fprintf(stderr, "case %zu: expected \"%s\" in ", i, bad[i].expect);
            json_dumpf(errs, stderr, 0);
            fprintf(stderr, "\n");
        }
        tg_snapshot_unref(b);
        json_decref(errs);
        json_decref(d);
    }
    json_decref(errors);
    TG_TEST_MAIN_END();
}
