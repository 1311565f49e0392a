/* cmd_live.c — tollgatectl's views of what the data plane is doing now: `routes` (GET /routes: host → group →
 * environment → base path → proxy → endpoints), `sessions [--proxy P] [--watch]` (GET /sessions), `config`
 * (GET /config with anything secret-looking elided) and `version`. */
#include "cmd/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* "a, b, c" from a JSON array of strings (at most n bytes). */
static void join_strings(char *buf, size_t n, json_t *arr)
{
    size_t i, used = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", s);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    if (!used)
        snprintf(buf, n, "-");
}

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : dflt;
}

/* ---------------------------------------------------------------------------------------------- routes */

int tg_cmd_routes(struct tg_cli *cli)
{
    if (tg_cli_wants_help(cli->argc, cli->argv)) {
        puts("Usage: tollgatectl routes [-o table|json|yaml]\n\n"
             "The live routing table of the data plane: one row per hostname and base path, with the group,\n"
             "the environment, the proxy and its endpoints, and the snapshot version in force (GET /routes).");
        return TG_EXIT_OK;
    }
    if (cli->argc > 0)
        return tg_cli_usage_error("routes: unexpected argument '%s' (see tollgatectl routes --help)", cli->argv[0]);
    json_t *body = NULL;
    int rc = tg_cli_call(cli, "GET", "/routes", NULL, &body);
    if (rc != TG_EXIT_OK)
        return rc;
    if (cli->format != TG_OUT_TABLE) {
        tg_print_value(stdout, body, cli->format);
        json_decref(body);
        return TG_EXIT_OK;
    }
    printf("snapshot version %lld", (long long)json_integer_value(json_object_get(body, "version")));
    const char *at = str_or(body, "appliedAt", NULL);
    if (at)
        printf(", applied %s", at);
    printf("\n");
    static const char *const titles[] = {"HOST", "GROUP", "ENVIRONMENT", "BASE PATH", "PROXY", "ENDPOINTS", "WS",
                                         "POLICIES"};
    struct tg_table t;
    tg_table_init(&t, 8, titles);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(body, "routes"), i, r) {
        char eps[512], pols[512];
        join_strings(eps, sizeof eps, json_object_get(r, "endpoints"));
        join_strings(pols, sizeof pols, json_object_get(r, "policies"));
        const char *cells[] = {str_or(r, "host", "-"), str_or(r, "group", "-"), str_or(r, "environment", "-"),
                               str_or(r, "basePath", "-"), str_or(r, "proxy", "-"), eps,
                               json_is_true(json_object_get(r, "websocket")) ? "yes" : "no", pols};
        tg_table_add(&t, cells);
    }
    tg_table_print_or(&t, "no routes (no snapshot loaded, or no proxy deployed to a group's environment)");
    json_decref(body);
    return TG_EXIT_OK;
}

/* -------------------------------------------------------------------------------------------- sessions */

static long long count_of(json_t *s, const char *key, const char *dir)
{
    return (long long)json_integer_value(json_object_get(json_object_get(s, key), dir));
}

static void session_cells(json_t *s, char out[9][64])
{
    snprintf(out[0], 64, "%s", str_or(s, "id", "-"));
    snprintf(out[1], 64, "%s", str_or(s, "proxy", "-"));
    snprintf(out[2], 64, "%s", str_or(s, "environment", "-"));
    snprintf(out[3], 64, "%s", str_or(s, "client", "-"));
    tg_fmt_duration_ms(out[4], 64, tg_age_ms(str_or(s, "startedAt", NULL)));
    snprintf(out[5], 64, "%lld/%lld", count_of(s, "messages", "clientToBackend"),
             count_of(s, "messages", "backendToClient"));
    char a[32], b[32];
    tg_fmt_bytes(a, sizeof a, (double)count_of(s, "bytes", "clientToBackend"));
    tg_fmt_bytes(b, sizeof b, (double)count_of(s, "bytes", "backendToClient"));
    snprintf(out[6], 64, "%s / %s", a, b);
    json_t *idle = json_object_get(s, "idleMs");
    if (json_is_number(idle))
        tg_fmt_duration_ms(out[7], 64, json_number_value(idle));
    else
        snprintf(out[7], 64, "-");
    snprintf(out[8], 64, "%s", str_or(s, "endpoint", "-"));
}

static const char *const session_titles[] = {"ID",   "PROXY",        "ENVIRONMENT",        "CLIENT",  "AGE",
                                             "MESSAGES C>B/B>C", "BYTES C>B / B>C", "IDLE", "ENDPOINT"};

static int proxy_matches(json_t *s, const char *want)
{
    if (!want)
        return 1;
    const char *p = str_or(s, "proxy", "");
    if (strcmp(p, want) == 0)
        return 1;
    const char *slash = strchr(p, '/');
    return slash && strcmp(slash + 1, want) == 0;
}

/* The sessions of GET /sessions that pass the filter (a new array), or NULL with rc set. */
static json_t *fetch_sessions(struct tg_cli *cli, const char *proxy, int *rc)
{
    json_t *body = NULL;
    *rc = tg_cli_call(cli, "GET", "/sessions", NULL, &body);
    if (*rc != TG_EXIT_OK)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(body, "sessions"), i, s) {
        if (proxy_matches(s, proxy))
            json_array_append(out, s);
    }
    json_decref(body);
    return out;
}

static void print_sessions_table(json_t *list)
{
    struct tg_table t;
    tg_table_init(&t, 9, session_titles);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        char c[9][64];
        session_cells(s, c);
        const char *cells[9] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]};
        tg_table_add(&t, cells);
    }
    tg_table_print_or(&t, "no live WebSocket sessions");
}

static json_t *find_by_id(json_t *list, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        if (strcmp(str_or(s, "id", ""), id) == 0)
            return s;
    }
    return NULL;
}

/* One line per change for a pipe: "added ..." / "closed ..." (table), or one JSON object per line. */
static void print_event(struct tg_cli *cli, const char *event, json_t *s)
{
    if (cli->format == TG_OUT_TABLE) {
        char c[9][64];
        session_cells(s, c);
        printf("%-6s  %s  proxy=%s  environment=%s  client=%s  age=%s  messages=%s  bytes=%s\n", event, c[0], c[1],
               c[2], c[3], c[4], c[5], c[6]);
    } else {
        json_t *e = json_pack("{s:s,s:O}", "event", event, "session", s);
        tg_print_event(stdout, e, cli->format);
        json_decref(e);
    }
}

static int watch_sessions(struct tg_cli *cli, const char *proxy, double interval)
{
    int tty = isatty(STDOUT_FILENO), rc = TG_EXIT_OK;
    json_t *prev = NULL;
    for (;;) {
        json_t *now = fetch_sessions(cli, proxy, &rc);
        if (!now)
            break;
        if (tty && cli->format == TG_OUT_TABLE) {
            char when[32];
            time_t t = time(NULL);
            strftime(when, sizeof when, "%H:%M:%S", localtime(&t));
            printf("\033[H\033[2J%s — every %.1fs — %zu session%s — Ctrl-C to stop\n\n", when, interval,
                   json_array_size(now), json_array_size(now) == 1 ? "" : "s");
            print_sessions_table(now);
        } else if (!prev) {
            if (cli->format == TG_OUT_TABLE)
                print_sessions_table(now);
            size_t i;
            json_t *s;
            if (cli->format != TG_OUT_TABLE)
                json_array_foreach(now, i, s) print_event(cli, "live", s);
        } else {
            size_t i;
            json_t *s;
            json_array_foreach(now, i, s) {
                if (!find_by_id(prev, str_or(s, "id", "")))
                    print_event(cli, "added", s);
            }
            json_array_foreach(prev, i, s) {
                if (!find_by_id(now, str_or(s, "id", "")))
                    print_event(cli, "closed", s);
            }
        }
        fflush(stdout);
        json_decref(prev);
        prev = now;
        struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
        nanosleep(&ts, NULL);
    }
    json_decref(prev);
    return rc;
}

int tg_cmd_sessions(struct tg_cli *cli)
{
    if (tg_cli_wants_help(cli->argc, cli->argv)) {
        puts("Usage: tollgatectl sessions [--proxy NAMESPACE/NAME|NAME] [--watch [--interval SECONDS]]\n"
             "                            [-o table|json|yaml]\n\n"
             "Live WebSocket sessions (GET /sessions): client, age, messages and bytes each way, idle time.\n"
             "  --proxy P     only the sessions of proxy P\n"
             "  --watch       keep watching: on a terminal the table is redrawn every interval; on a pipe the\n"
             "                table is printed once, then one line per session added or closed (with -o json,\n"
             "                one JSON object per line: {\"event\":\"added\"|\"closed\",\"session\":{...}})\n"
             "  --interval S  seconds between polls (default 1)");
        return TG_EXIT_OK;
    }
    const char *proxy = NULL;
    int watch = 0;
    double interval = 1.0;
    for (int i = 0; i < cli->argc; i++) {
        const char *a = cli->argv[i];
        if (strcmp(a, "--proxy") == 0 && i + 1 < cli->argc)
            proxy = cli->argv[++i];
        else if (strncmp(a, "--proxy=", 8) == 0)
            proxy = a + 8;
        else if (strcmp(a, "--watch") == 0 || strcmp(a, "-w") == 0)
            watch = 1;
        else if (strcmp(a, "--interval") == 0 && i + 1 < cli->argc)
            interval = atof(cli->argv[++i]);
        else
            return tg_cli_usage_error("sessions: unexpected argument '%s' (see tollgatectl sessions --help)", a);
    }
    if (interval < 0.1)
        return tg_cli_usage_error("sessions: --interval must be at least 0.1 seconds");
    if (watch)
        return watch_sessions(cli, proxy, interval);
    int rc;
    json_t *list = fetch_sessions(cli, proxy, &rc);
    if (!list)
        return rc;
    if (cli->format == TG_OUT_TABLE) {
        print_sessions_table(list);
    } else {
        json_t *out = json_pack("{s:O}", "sessions", list);
        tg_print_value(stdout, out, cli->format);
        json_decref(out);
    }
    json_decref(list);
    return TG_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------- config */

/* Whether a key names something secret: its value is replaced by "<elided>" in `config`'s output. */
static int secret_key(const char *k)
{
    static const char *const words[] = {"secret", "password", "token", "apikey", "api_key", "privatekey", "key",
                                        "keys", "credential", "authorization", "jwks", "digest", "digests"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(k, words[i]) == 0)
            return 1;
    return strcasestr(k, "secret") || strcasestr(k, "password") || strcasestr(k, "privatekey") ||
           (strcasestr(k, "token") && !strcasestr(k, "from")) || strcasestr(k, "credential");
}

static void elide(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) {
            if (secret_key(k) && !json_is_boolean(val) && !json_is_null(val))
                json_object_set_new(v, k, json_string("<elided>"));
            else
                elide(val);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val) elide(val);
    }
}

int tg_cmd_config(struct tg_cli *cli)
{
    if (tg_cli_wants_help(cli->argc, cli->argv)) {
        puts("Usage: tollgatectl config [-o table|json|yaml]\n\n"
             "The snapshot in force (GET /config): version, groups and proxies. Values under keys that name\n"
             "secrets (keys, tokens, passwords, JWKS, digests) are printed as <elided>.");
        return TG_EXIT_OK;
    }
    if (cli->argc > 0)
        return tg_cli_usage_error("config: unexpected argument '%s' (see tollgatectl config --help)", cli->argv[0]);
    json_t *body = NULL;
    int rc = tg_cli_call(cli, "GET", "/config", NULL, &body);
    if (rc != TG_EXIT_OK)
        return rc;
    elide(body);
    if (cli->format != TG_OUT_TABLE) {
        tg_print_value(stdout, body, cli->format);
        json_decref(body);
        return TG_EXIT_OK;
    }
    printf("snapshot version %lld, applied %s, boot id %s\n\n",
           (long long)json_integer_value(json_object_get(body, "version")), str_or(body, "appliedAt", "-"),
           str_or(body, "bootId", "-"));
    static const char *const gtitles[] = {"GROUP", "HOSTNAMES", "ENVIRONMENTS", "ROUTES"};
    struct tg_table t;
    tg_table_init(&t, 4, gtitles);
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(body, "groups"), i, g) {
        char hosts[512], envs[256], routes[32];
        join_strings(hosts, sizeof hosts, json_object_get(g, "hostnames"));
        join_strings(envs, sizeof envs, json_object_get(g, "environments"));
        snprintf(routes, sizeof routes, "%zu", json_array_size(json_object_get(g, "routes")));
        const char *cells[] = {str_or(g, "id", "-"), hosts, envs, routes};
        tg_table_add(&t, cells);
    }
    tg_table_print(&t, stdout, 0);
    tg_table_free(&t);
    printf("\n");
    static const char *const ptitles[] = {"PROXY", "BASE PATH", "ENVIRONMENTS", "ENDPOINTS", "POLICIES", "WS"};
    tg_table_init(&t, 6, ptitles);
    json_t *p;
    json_array_foreach(json_object_get(body, "proxies"), i, p) {
        char envs[256], eps[512], pols[512];
        join_strings(envs, sizeof envs, json_object_get(p, "environments"));
        join_strings(eps, sizeof eps, json_object_get(p, "endpoints"));
        join_strings(pols, sizeof pols, json_object_get(p, "policies"));
        const char *cells[] = {str_or(p, "id", "-"), str_or(p, "basePath", "-"), envs, eps, pols,
                               json_is_true(json_object_get(p, "websocket")) ? "yes" : "no"};
        tg_table_add(&t, cells);
    }
    tg_table_print(&t, stdout, 0);
    tg_table_free(&t);
    json_decref(body);
    return TG_EXIT_OK;
}

/* --------------------------------------------------------------------------------------------- version */

int tg_cmd_version(struct tg_cli *cli)
{
    if (tg_cli_wants_help(cli->argc, cli->argv)) {
        puts("Usage: tollgatectl version [--client] [-o table|json|yaml]\n\n"
             "tollgatectl's version and, unless --client, the data plane's snapshot version and boot id.\n"
             "Exits 0 even when the data plane cannot be reached (it says so).");
        return TG_EXIT_OK;
    }
    int client_only = 0;
    for (int i = 0; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--client") == 0)
            client_only = 1;
        else
            return tg_cli_usage_error("version: unexpected argument '%s'", cli->argv[i]);
    }
    json_t *out = json_pack("{s:{s:s}}", "client", "version", TG_CLI_VERSION);
    if (!client_only) {
        struct tg_admin_reply reply;
        char err[512];
        int rc = tg_admin_request(&cli->admin, "GET", "/config", NULL, &reply, err, sizeof err);
        json_t *dp = json_pack("{s:s,s:b}", "admin", cli->admin.base, "reachable", rc == TG_EXIT_OK);
        if (rc == TG_EXIT_OK) {
            json_object_set(dp, "snapshotVersion", json_object_get(reply.json, "version"));
            json_object_set(dp, "bootId", json_object_get(reply.json, "bootId"));
        } else {
            json_object_set_new(dp, "error", json_string(err));
        }
        json_decref(reply.json);
        json_object_set_new(out, "dataplane", dp);
    }
    if (cli->format != TG_OUT_TABLE) {
        tg_print_value(stdout, out, cli->format);
    } else {
        printf("tollgatectl %s\n", TG_CLI_VERSION);
        json_t *dp = json_object_get(out, "dataplane");
        if (dp && json_is_true(json_object_get(dp, "reachable")))
            printf("data plane at %s: snapshot version %lld, boot id %s\n", cli->admin.base,
                   (long long)json_integer_value(json_object_get(dp, "snapshotVersion")), str_or(dp, "bootId", "-"));
        else if (dp)
            printf("data plane: %s\n", str_or(dp, "error", "unreachable"));
    }
    json_decref(out);
    return TG_EXIT_OK;
}
