/* console.c — GET /routes and the web console's files on the admin port (console.h). /routes flattens the snapshot
 * in force into one row per hostname and base path — host → group → environment → base path → proxy →
 * endpoints — with the snapshot version, so tollgatectl and the console need no routing logic of their own. The
 * console's files are served from the table generated at build time; there is no file system access at run
 * time. Both run on the main thread and read only dp->current (the main thread's reference). */
#include "process/console.h"

#include "clock.h"
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

static json_t *string_array(const char **items, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(items[i]));
    return arr;
}

static json_t *routes_table(const struct tg_dataplane *dp)
{
    const struct tg_snapshot *s = dp->current;
    json_t *rows = json_array();
    for (size_t g = 0; s && g < s->num_groups; g++) {
        const struct tg_group_cfg *grp = &s->groups[g];
        for (size_t h = 0; h < grp->num_hostnames; h++) {
            for (size_t r = 0; r < grp->num_routes; r++) {
                const struct tg_proxy_cfg *px = grp->routes[r].proxy;
                json_t *eps = json_array();
                for (size_t e = 0; e < px->num_endpoints; e++)
                    json_array_append_new(eps, json_string(px->endpoints[e]->name));
                json_t *pols = json_array();
                for (size_t p = 0; p < px->num_policies; p++)
                    json_array_append_new(pols, json_string(px->policies[p].type->name));
                json_array_append_new(
                    rows, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:b,s:o,s:b}", "host", grp->hostnames[h], "group",
                                    grp->id, "environment", grp->routes[r].environment, "basePath", px->base_path,
                                    "proxy", px->id, "endpoints", eps, "websocket", px->ws_enabled, "policies", pols,
                                    "stripBasePath", px->strip_base_path));
            }
        }
    }
    char when[40] = "";
    if (dp->applied_wall_ms)
        tg_format_rfc3339(dp->applied_wall_ms, when, sizeof when);
    json_t *groups = json_array();
    for (size_t g = 0; s && g < s->num_groups; g++)
        json_array_append_new(groups, json_pack("{s:s,s:o,s:o}", "id", s->groups[g].id, "hostnames",
                                                string_array(s->groups[g].hostnames, s->groups[g].num_hostnames),
                                                "environments",
                                                string_array(s->groups[g].environments,
                                                             s->groups[g].num_environments)));
    return json_pack("{s:I,s:s,s:o,s:o}", "version", (json_int_t)dp->applied_version, "appliedAt", when, "groups",
                     groups, "routes", rows);
}

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".json") == 0)
        return "application/json";
    return "application/octet-stream";
}

static void serve_asset(struct tg_mini_request *req, const char *name)
{
    for (const struct tg_console_asset *a = tg_console_assets; a->name; a++) {
        if (strcmp(a->name, name) == 0) {
            tg_mini_respond(req->conn, 200, content_type(a->name), (const char *)a->data, a->len);
            return;
        }
    }
    tg_mini_respond_json(req->conn, 404,
                         "{\"error\":{\"status\":404,\"code\":\"admin.not_found\",\"message\":\"no such console file\"}}");
}

int tg_console_handle(struct tg_mini_request *req, struct tg_dataplane *dp)
{
    if (strcmp(req->path, "/routes") == 0) {
        json_t *v = routes_table(dp);
        char *text = json_dumps(v, JSON_COMPACT);
        tg_mini_respond_json(req->conn, 200, text ? text : "{}");
        free(text);
        json_decref(v);
        return 1;
    }
    if (strcmp(req->path, "/console") == 0 || strcmp(req->path, "/console/") == 0) {
        serve_asset(req, "index.html");
        return 1;
    }
    if (strncmp(req->path, "/console/", 9) == 0) {
        const char *name = req->path + 9;
        /* the table's names are plain relative paths: anything else is not one of them */
        if (strstr(name, "..") || name[0] == '/')
            name = "";
        serve_asset(req, name);
        return 1;
    }
    return 0;
}
