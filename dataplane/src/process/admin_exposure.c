/* admin_exposure.c — see admin_exposure.h: the probe listener's allow-list and the admin token check. */
#include "process/admin_exposure.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_loopback(const char *addr)
{
    if (!addr)
        return 1;
    if (strchr(addr, '/') || strncmp(addr, "unix:", 5) == 0 || !strchr(addr, ':'))
        return 1; /* a Unix socket: reachable only through the file system */
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 || strncmp(addr, "localhost:", 10) == 0;
}

int tg_admin_exposure_prepare(struct tg_admin_exposure *x, const char *admin_addr, tg_mini_handler admin_handler,
                              void *admin_ctx)
{
    x->admin_handler = admin_handler;
    x->admin_ctx = admin_ctx;
    x->probe.fd = -1;
    if (x->token_file) {
        FILE *f = fopen(x->token_file, "r");
        char token[4096];
        size_t n = f ? fread(token, 1, sizeof token - 1, f) : 0;
        if (f)
            fclose(f);
        while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' ' || token[n - 1] == '\t'))
            n--;
        if (!f || n < 16) {
            fprintf(stderr, "tollgate-dataplane: --admin-token-file %s: %s\n", x->token_file,
                    f ? "the token must have at least 16 characters" : "cannot read it");
            return -1;
        }
        SHA256((const unsigned char *)token, n, x->token_digest);
        OPENSSL_cleanse(token, sizeof token);
        x->has_token = 1;
    } else if (!is_loopback(admin_addr)) {
        fprintf(stderr, "tollgate-dataplane: --admin %s is not a loopback address: it needs --admin-token-file "
                        "(the admin API shows traffic); probes and metrics belong on --probe-listen\n", admin_addr);
        return -1;
    }
    return 0;
}

int tg_admin_bearer_ok(const unsigned char digest[32], const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    unsigned char got[32];
    /* both sides hashed: the comparison takes the same time whatever the token's length or first difference */
    SHA256((const unsigned char *)token, strlen(token), got);
    return CRYPTO_memcmp(got, digest, sizeof got) == 0;
}

/* The web console's static files (console/, embedded): a browser navigating to /console/ cannot send a bearer
 * token, and the files hold no data — every call the page makes for data carries the token it asks for. */
static int is_console_file(const struct tg_mini_request *req)
{
    return strcmp(req->method, "GET") == 0 &&
           (strcmp(req->path, "/console") == 0 || strncmp(req->path, "/console/", 9) == 0);
}

void tg_admin_exposure_admin(struct tg_mini_request *req, void *ctx)
{
    struct tg_admin_exposure *x = ctx;
    if (x->has_token && !is_console_file(req) && !tg_admin_bearer_ok(x->token_digest, req->authorization)) {
        tg_mini_respond_json(req->conn, 401, "{\"error\":{\"status\":401,\"code\":\"admin.unauthorized\","
                                             "\"message\":\"the admin API needs its bearer token\"}}");
        return;
    }
    x->admin_handler(req, x->admin_ctx);
}

void tg_admin_exposure_probe(struct tg_mini_request *req, void *ctx)
{
    struct tg_admin_exposure *x = ctx;
    if (strcmp(req->path, "/healthz") != 0 && strcmp(req->path, "/readyz") != 0 && strcmp(req->path, "/metrics") != 0) {
        tg_mini_respond_json(req->conn, 404, "{\"error\":{\"status\":404,\"code\":\"probe.not_found\","
                                             "\"message\":\"the probe port serves /healthz, /readyz and /metrics\"}}");
        return;
    }
    x->admin_handler(req, x->admin_ctx);
}
