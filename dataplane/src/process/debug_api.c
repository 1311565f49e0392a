/* debug_api.c — the admin API's /debug/sessions routes (DESIGN.md "Debug and analytics") on the debug store
 * (debug_store.h): POST /debug/sessions → 201 {"id"}, GET /debug/sessions, GET and DELETE
 * /debug/sessions/{id}. Main thread. */
#include "process/dataplane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void respond_error(void *conn, int status, const char *code, const char *message)
{
    json_t *e = json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code", code, "message", message);
    char *text = json_dumps(e, JSON_COMPACT);
    tg_mini_respond_json(conn, status, text ? text : "{}");
    free(text);
    json_decref(e);
}

static void respond(void *conn, int status, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    tg_mini_respond_json(conn, status, text ? text : "{}");
    free(text);
    json_decref(value);
}

void tg_debug_api_handle(struct tg_debug_store *st, struct tg_mini_request *req)
{
    const char *prefix = "/debug/sessions";
    size_t n = strlen(prefix);
    if (strncmp(req->path, prefix, n) != 0 || (req->path[n] && req->path[n] != '/')) {
        respond_error(req->conn, 404, "admin.not_found", "unknown admin endpoint");
        return;
    }
    const char *id = req->path[n] == '/' ? req->path + n + 1 : NULL;
    if (id && !*id)
        id = NULL;
    if (!id && strcmp(req->method, "POST") == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
        char err[256] = "";
        int status = 400;
        json_t *out = tg_debug_store_start(st, body, err, sizeof err, &status);
        json_decref(body);
        if (out)
            respond(req->conn, 201, out);
        else
            respond_error(req->conn, status, status == 409 ? "debug.too_many" : "debug.bad_request",
                          err[0] ? err : "the body must be a JSON object");
    } else if (!id && strcmp(req->method, "GET") == 0) {
        respond(req->conn, 200, tg_debug_store_list(st));
    } else if (id && strcmp(req->method, "GET") == 0) {
        json_t *s = tg_debug_store_get(st, id);
        if (s)
            respond(req->conn, 200, s);
        else
            respond_error(req->conn, 404, "debug.not_found", "no such debug session");
    } else if (id && strcmp(req->method, "DELETE") == 0) {
        if (tg_debug_store_delete(st, id) == 0)
            tg_mini_respond(req->conn, 204, "text/plain", "", 0);
        else
            respond_error(req->conn, 404, "debug.not_found", "no such debug session");
    } else {
        respond_error(req->conn, 405, "admin.method", id ? "GET or DELETE" : "GET or POST");
    }
}
