/* test_dp_redact.c — redaction (table-driven): the policy layer's loggable copies of a request
 * (policy/auth/auth_redact.h: targets, field values, whole heads, for a proxy whose verifyApiKey and oauthV2
 * policies read custom locations) and the scrub every log line goes through (common/log.h: tg_log_redact). */
#include "policy/auth/auth_redact.h"
#include "log.h"
#include "policy/policy.h"
#include "config/snapshot.h"
#include "tg_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tg_slice sl(const char *s) { return (struct tg_slice){s, strlen(s)}; }

static struct tg_compiled_policy pols[2];
static struct tg_proxy_cfg px;

/* verifyApiKey reads query:key and header:x-client-key; oauthV2 reads subprotocol:bearer and query:tok */
static void setup(void)
{
    json_t *vak = json_pack("{s:[s,s],s:[]}", "keyFrom", "query:key", "header:x-client-key", "keys");
    json_t *oauth = json_pack("{s:[s,s],s:{s:s,s:[],s:[s],s:{s:[]}},s:n,s:[],s:[]}", "tokenFrom",
                              "subprotocol:bearer", "query:tok", "jwt", "issuer", "i", "audiences", "algorithms",
                              "ES256", "jwks", "keys", "introspection", "requiredScopes", "revoked");
    char err[256] = "";
    int failed = 0;
    const struct tg_policy_type *tv = tg_policy_type_find("verifyApiKey"), *to = tg_policy_type_find("oauthV2");
    pols[0] = (struct tg_compiled_policy){tv, tv->compile(vak, err, sizeof err, &failed)};
    pols[1] = (struct tg_compiled_policy){to, to->compile(oauth, err, sizeof err, &failed)};
    CHECK_EQ_INT(failed, 0);
    memset(&px, 0, sizeof px);
    px.policies = pols;
    px.num_policies = 2;
    json_decref(vak);
    json_decref(oauth);
}

static void test_targets(void)
{
    static const struct {
        int with_px;
        const char *target, *want;
    } cases[] = {
        {1, "/chat", "/chat"},
        {1, "/chat?room=1", "/chat?room=1"},
        {1, "/chat?key=k-secret&room=1", "/chat?key=[redacted]&room=1"},
        {1, "/chat?room=1&tok=eyJx.y.z", "/chat?room=1&tok=[redacted]"},
        {1, "/chat?apikey=s1&api_key=s2&access_token=s3", "/chat?apikey=[redacted]&api_key=[redacted]&access_token=[redacted]"},
        {1, "/chat?APIKEY=s1", "/chat?APIKEY=[redacted]"},              /* the fixed list, any case */
        {1, "/chat?Key=s1", "/chat?Key=s1"},                            /* a policy's name is exact */
        {1, "/chat?k%65y=s1", "/chat?k%65y=[redacted]"},                /* names compared decoded */
        {1, "/chat?key=", "/chat?key="},                                /* nothing to hide */
        {1, "/chat?key", "/chat?key"},
        {1, "/chat?a&&key=s", "/chat?a&&key=[redacted]"},
        {0, "/chat?key=visible&apikey=s", "/chat?key=visible&apikey=[redacted]"}, /* no proxy: the fixed list */
        {0, "http://user:pw@h.example/p?x=1", "http://[redacted]@h.example/p?x=1"},
        {0, "http://h.example/p@q", "http://h.example/p@q"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = tg_redact_target(cases[i].with_px ? &px : NULL, sl(cases[i].target), out, sizeof out);
        CHECK_EQ_STR(out, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
    }
    /* cut output never shows a credential, and is always terminated */
    for (size_t size = 1; size < 40; size++) {
        char small[40];
        tg_redact_target(&px, sl("/chat?key=k-secret-value&room=1"), small, size);
        CHECK(strlen(small) < size && !strstr(small, "k-se"));
    }
}

static void test_fields(void)
{
    static const struct {
        int with_px;
        const char *name, *value, *want;
    } cases[] = {
        {1, "Host", "api.example.com", "api.example.com"},
        {1, "Authorization", "Bearer eyJhbGc.x.y", "Bearer [redacted]"},
        {1, "authorization", "Basic dXNlcjpwdw==", "Basic [redacted]"},
        {1, "Authorization", "opaque", "[redacted]"},
        {1, "Proxy-Authorization", "Basic abc", "Basic [redacted]"},
        {1, "Cookie", "session=abc; theme=dark", "[redacted]"},
        {1, "Set-Cookie", "session=abc", "[redacted]"},
        {1, "X-Api-Key", "k-1", "[redacted]"},
        {1, "X-Client-Key", "k-2", "[redacted]"},                        /* the proxy's keyFrom header */
        {0, "X-Client-Key", "k-2", "k-2"},                               /* unknown without the proxy */
        {1, "Sec-WebSocket-Protocol", "chat, bearer, eyJ.a.b", "chat, bearer, [redacted]"},
        {1, "sec-websocket-protocol", "bearer.eyJ.a.b, v2", "[redacted], v2"},
        {1, "Sec-WebSocket-Protocol", "chat.v1", "chat.v1"},
        {1, "User-Agent", "Bearer-like agent", "Bearer-like agent"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_redact_header_value(cases[i].with_px ? &px : NULL, sl(cases[i].name), sl(cases[i].value), out,
                               sizeof out);
        CHECK_EQ_STR(out, cases[i].want);
    }
}

static void test_request(void)
{
    const char *text = "GET /chat?key=k-secret&room=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0ken-secret\r\n"
                       "X-Client-Key: k-other-secret\r\nCookie: s=c00kie-secret\r\n"
                       "Sec-WebSocket-Protocol: bearer, eyJa.b.c, chat\r\n\r\n";
    struct tg_http_head *h = malloc(sizeof *h);
    CHECK_EQ_INT(tg_http1_parse_request(text, strlen(text), 32768, h), TG_HTTP_OK);
    char out[512];
    tg_redact_request(&px, h, out, sizeof out);
    CHECK_EQ_STR(out, "GET /chat?key=[redacted]&room=1 HTTP/1.1 | Host: a | Authorization: Bearer [redacted] | "
                      "X-Client-Key: [redacted] | Cookie: [redacted] | Sec-WebSocket-Protocol: bearer, [redacted], chat");
    for (size_t size = 1; size < sizeof out; size += 7) {
        size_t n = tg_redact_request(&px, h, out, size);
        CHECK(n < size && strlen(out) == n && !strstr(out, "secret"));
    }
    free(h);
}

static void test_log_scrub(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain text, nothing to hide", "plain text, nothing to hide"},
        {"Authorization: Bearer abcdefgh12345", "Authorization: Bearer [redacted]"},
        {"authorization:Basic dXNlcjpwYXNz", "authorization:Basic [redacted]"},
        {"Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic [redacted]"},
        {"got bearer abcdefgh12345 from x", "got bearer [redacted] from x"},
        {"a bearer token is required", "a bearer token is required"},     /* prose, not a credential */
        {"WWW-Authenticate: Bearer realm=\"tollgate\", error=\"invalid_token\"",
         "WWW-Authenticate: Bearer realm=\"tollgate\", error=\"invalid_token\""},
        {"Bearer dG9rZW4tdmFsdWU=", "Bearer [redacted]"},
        {"Cookie: a=1; b=2", "Cookie: [redacted]"},
        {"\"Set-Cookie: sid=xyz\"", "\"Set-Cookie: [redacted]\""},
        {"X-Api-Key: k-123 rest", "X-Api-Key: [redacted] rest"},
        {"GET /chat?apikey=k-1&room=2 HTTP/1.1", "GET /chat?apikey=[redacted]&room=2 HTTP/1.1"},
        {"token=abc&token_type_hint=access_token", "token=[redacted]&token_type_hint=access_token"},
        {"/x?access_token=t1#frag", "/x?access_token=[redacted]#frag"},
        {"client_secret=s3cr3t password=hunter2", "client_secret=[redacted] password=[redacted]"},
        {"mytoken=visible", "mytoken=visible"},
        {"jwks https://user:pw@idp.example/jwks.json: failed", "jwks https://[redacted]@idp.example/jwks.json: failed"},
        {"jwks https://idp.example/jwks.json: failed", "jwks https://idp.example/jwks.json: failed"},
        {"tok eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln end", "tok [redacted] end"},
        {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", "[redacted]"},
        {"eyJust a word", "eyJust a word"},
        {"redis 127.0.0.1:6379: connection refused", "redis 127.0.0.1:6379: connection refused"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = tg_log_redact(cases[i].in, out, sizeof out);
        CHECK_EQ_STR(out, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
    }
    for (size_t size = 1; size < 40; size++) {
        char small[40];
        size_t n = tg_log_redact("x Authorization: Bearer s3cr3t-t0ken-value y", small, size);
        CHECK(n < size && strlen(small) == n && !strstr(small, "s3cr"));
    }
}

int main(void)
{
    setup();
    test_targets();
    test_fields();
    test_request();
    test_log_scrub();
    for (int i = 0; i < 2; i++)
        pols[i].type->free_state(pols[i].state);
    TG_TEST_MAIN_END();
}
