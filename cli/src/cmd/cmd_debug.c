/* cmd_debug.c — tollgatectl's debug sessions (DESIGN.md "Debug and analytics", issue 13): `debug start`,
 * `debug list`, `debug show ID`, `debug stop ID` over POST/GET/DELETE /debug/sessions, and `trace ID`, which
 * follows one session by polling it: each transaction is printed when it first appears (for a WebSocket, its 101
 * record) and a WebSocket transaction once more when its record is completed by the session's close. */
#include "cmd/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : dflt;
}

static long long dir_count(json_t *ws, const char *key, const char *dir)
{
    return (long long)json_integer_value(json_object_get(json_object_get(ws, key), dir));
}

/* A WebSocket record is closed once the session's end filled it in (closedBy or closeCode present). */
static int ws_closed(json_t *tx)
{
    json_t *ws = json_object_get(tx, "websocket");
    if (!json_is_object(ws))
        return 0;
    json_t *by = json_object_get(ws, "closedBy"), *code = json_object_get(ws, "closeCode");
    return (by && !json_is_null(by)) || (code && !json_is_null(code)) || json_is_true(json_object_get(ws, "closed"));
}

static void policies_text(char *buf, size_t n, json_t *tx)
{
    size_t i, used = 0;
    json_t *p;
    buf[0] = '\0';
    json_array_foreach(json_object_get(tx, "policies"), i, p) {
        json_t *micros = json_object_get(p, "micros");
        int w = snprintf(buf + used, n - used, "%s%s %s (%lld µs)", used ? ", " : "", str_or(p, "name", "?"),
                         str_or(p, "result", "?"), (long long)json_integer_value(micros));
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    if (!used)
        snprintf(buf, n, "none");
}

static void ws_text(char *buf, size_t n, json_t *tx)
{
    json_t *ws = json_object_get(tx, "websocket");
    if (json_integer_value(json_object_get(tx, "status")) != 101) {
        snprintf(buf, n, "-");
        return;
    }
    if (!ws_closed(tx)) {
        snprintf(buf, n, "open");
        return;
    }
    char dur[32], b1[32], b2[32];
    tg_fmt_duration_ms(dur, sizeof dur, json_number_value(json_object_get(ws, "durationMs")));
    tg_fmt_bytes(b1, sizeof b1, (double)dir_count(ws, "bytes", "clientToBackend"));
    tg_fmt_bytes(b2, sizeof b2, (double)dir_count(ws, "bytes", "backendToClient"));
    snprintf(buf, n, "closed %lld by %s after %s; messages c>b %lld b>c %lld; bytes c>b %s b>c %s",
             (long long)json_integer_value(json_object_get(ws, "closeCode")), str_or(ws, "closedBy", "?"), dur,
             dir_count(ws, "messages", "clientToBackend"), dir_count(ws, "messages", "backendToClient"), b1, b2);
}

static json_t *transactions_of(json_t *session)
{
    json_t *t = json_object_get(session, "transactions");
    return json_is_array(t) ? t : NULL;
}

/* -------------------------------------------------------------------------------------------- commands */

static int debug_help(void)
{
    puts("Usage: tollgatectl debug start --env ENVIRONMENT --proxy NAMESPACE/NAME [--filter F]... [--duration D]\n"
         "                              [--max N]\n"
         "       tollgatectl debug list\n"
         "       tollgatectl debug show ID\n"
         "       tollgatectl debug stop ID\n\n"
         "Debug sessions record the transactions of one proxy in one environment: the request (credentials\n"
         "redacted), each policy with its result and time, the endpoint, the status (101 for a WebSocket) and,\n"
         "once a WebSocket session ends, its duration, messages and bytes each way, close code and side.\n"
         "  --filter path=/PREFIX | header:NAME=VALUE | client=IP   (repeatable)\n"
         "  --duration D   how long to record: 90, 90s, 10m (default 10m, at most 15m)\n"
         "  --max N        at most N transactions (default 20, at most 100)\n"
         "Follow a session as it records with: tollgatectl trace ID");
    return TG_EXIT_OK;
}

static int debug_start(struct tg_cli *cli, int argc, char **argv)
{
    const char *env = NULL, *proxy = NULL;
    long duration = -1, max = -1;
    json_t *filters = json_object();
    int rc = TG_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "--env") == 0 || strcmp(a, "--environment") == 0) && v) {
            env = v;
            i++;
        } else if (strcmp(a, "--proxy") == 0 && v) {
            proxy = v;
            i++;
        } else if (strcmp(a, "--duration") == 0 && v) {
            duration = tg_cli_parse_seconds(v);
            if (duration <= 0) {
                tg_cli_usage_error("debug start: --duration '%s' is not a duration (90, 90s, 10m)", v);
                goto out;
            }
            i++;
        } else if (strcmp(a, "--max") == 0 && v) {
            max = atol(v);
            if (max <= 0) {
                tg_cli_usage_error("debug start: --max must be a positive number");
                goto out;
            }
            i++;
        } else if (strcmp(a, "--filter") == 0 && v) {
            i++;
            if (strncmp(v, "path=", 5) == 0) {
                json_object_set_new(filters, "pathPrefix", json_string(v + 5));
            } else if (strncmp(v, "client=", 7) == 0) {
                json_object_set_new(filters, "clientIp", json_string(v + 7));
            } else if (strncmp(v, "header:", 7) == 0 && strchr(v + 7, '=') && strchr(v + 7, '=') > v + 7) {
                const char *eq = strchr(v + 7, '=');
                json_object_set_new(filters, "header",
                                    json_pack("{s:s%,s:s}", "name", v + 7, (size_t)(eq - (v + 7)), "value", eq + 1));
            } else {
                tg_cli_usage_error("debug start: --filter '%s': expected path=/PREFIX, header:NAME=VALUE or client=IP",
                                   v);
                goto out;
            }
        } else {
            tg_cli_usage_error("debug start: unexpected argument '%s' (see tollgatectl debug --help)", a);
            goto out;
        }
    }
    if (!env || !proxy) {
        tg_cli_usage_error("debug start: --env and --proxy are required (see tollgatectl debug --help)");
        goto out;
    }
    json_t *req = json_pack("{s:s,s:s}", "environment", env, "proxy", proxy);
    if (duration > 0)
        json_object_set_new(req, "durationSeconds", json_integer(duration));
    if (max > 0)
        json_object_set_new(req, "maxTransactions", json_integer(max));
    json_object_update(req, filters); /* pathPrefix, header, clientIp sit beside environment and proxy */
    json_t *body = NULL;
    rc = tg_cli_call(cli, "POST", "/debug/sessions", req, &body);
    json_decref(req);
    if (rc == TG_EXIT_OK) {
        if (cli->format != TG_OUT_TABLE)
            tg_print_value(stdout, body, cli->format);
        else
            printf("%s\n", str_or(body, "id", "?"));
        if (cli->format == TG_OUT_TABLE)
            fprintf(stderr, "debug session %s recording %s in %s; follow it with: tollgatectl trace %s\n",
                    str_or(body, "id", "?"), proxy, env, str_or(body, "id", "?"));
    }
    json_decref(body);
out:
    json_decref(filters);
    return rc;
}

static json_t *session_list_of(json_t *body)
{
    if (json_is_array(body))
        return body;
    json_t *l = json_object_get(body, "sessions");
    if (!json_is_array(l))
        l = json_object_get(body, "debugSessions");
    return json_is_array(l) ? l : NULL;
}

static int debug_list(struct tg_cli *cli)
{
    json_t *body = NULL;
    int rc = tg_cli_call(cli, "GET", "/debug/sessions", NULL, &body);
    if (rc != TG_EXIT_OK)
        return rc;
    if (cli->format != TG_OUT_TABLE) {
        tg_print_value(stdout, body, cli->format);
        json_decref(body);
        return TG_EXIT_OK;
    }
    static const char *const titles[] = {"ID", "ENVIRONMENT", "PROXY", "TRANSACTIONS", "EXPIRES", "STATE"};
    struct tg_table t;
    tg_table_init(&t, 6, titles);
    size_t i;
    json_t *s;
    json_array_foreach(session_list_of(body), i, s) {
        char count[32];
        json_t *tx = json_object_get(s, "transactions");
        json_t *n = json_is_array(tx) ? NULL : tx;
        if (!n)
            n = json_object_get(s, "transactionCount");
        long long have = json_is_array(tx) ? (long long)json_array_size(tx) : (long long)json_integer_value(n);
        json_t *cap = json_object_get(s, "maxTransactions");
        if (cap)
            snprintf(count, sizeof count, "%lld/%lld", have, (long long)json_integer_value(cap));
        else
            snprintf(count, sizeof count, "%lld", have);
        const char *cells[] = {str_or(s, "id", "-"), str_or(s, "environment", "-"), str_or(s, "proxy", "-"), count,
                               str_or(s, "expiresAt", "-"), str_or(s, "state", "-")};
        tg_table_add(&t, cells);
    }
    tg_table_print_or(&t, "no debug sessions");
    json_decref(body);
    return TG_EXIT_OK;
}

static int debug_show(struct tg_cli *cli, const char *id)
{
    char path[600];
    snprintf(path, sizeof path, "/debug/sessions/%s", id);
    json_t *body = NULL;
    int rc = tg_cli_call(cli, "GET", path, NULL, &body);
    if (rc != TG_EXIT_OK)
        return rc;
    if (cli->format != TG_OUT_TABLE) {
        tg_print_value(stdout, body, cli->format);
        json_decref(body);
        return TG_EXIT_OK;
    }
    json_t *txs = transactions_of(body);
    printf("debug session %s: proxy %s, environment %s, %zu transaction%s\n", str_or(body, "id", id),
           str_or(body, "proxy", "-"), str_or(body, "environment", "-"), json_array_size(txs),
           json_array_size(txs) == 1 ? "" : "s");
    static const char *const titles[] = {"#", "METHOD", "PATH", "STATUS", "ENDPOINT", "POLICIES", "WEBSOCKET"};
    struct tg_table t;
    tg_table_init(&t, 7, titles);
    size_t i;
    json_t *tx;
    json_array_foreach(txs, i, tx) {
        char num[16], status[16], pols[512], ws[256];
        snprintf(num, sizeof num, "%zu", i + 1);
        snprintf(status, sizeof status, "%lld", (long long)json_integer_value(json_object_get(tx, "status")));
        policies_text(pols, sizeof pols, tx);
        ws_text(ws, sizeof ws, tx);
        json_t *req = json_object_get(tx, "request");
        const char *cells[] = {num, str_or(req, "method", "-"), str_or(req, "path", "-"), status,
                               str_or(tx, "endpoint", "-"), pols, ws};
        tg_table_add(&t, cells);
    }
    tg_table_print_or(&t, NULL);
    json_decref(body);
    return TG_EXIT_OK;
}

static int debug_stop(struct tg_cli *cli, const char *id)
{
    char path[600];
    snprintf(path, sizeof path, "/debug/sessions/%s", id);
    json_t *body = NULL;
    int rc = tg_cli_call(cli, "DELETE", path, NULL, &body);
    if (rc == TG_EXIT_OK) {
        if (cli->format != TG_OUT_TABLE) {
            json_t *out = body ? json_incref(body) : json_pack("{s:s,s:b}", "id", id, "stopped", 1);
            tg_print_value(stdout, out, cli->format);
            json_decref(out);
        } else {
            printf("debug session %s stopped\n", id);
        }
    }
    json_decref(body);
    return rc;
}

int tg_cmd_debug(struct tg_cli *cli)
{
    if (cli->argc == 0 || (tg_cli_wants_help(cli->argc, cli->argv)))
        return cli->argc == 0 ? (debug_help(), TG_EXIT_USAGE) : debug_help();
    const char *sub = cli->argv[0];
    int argc = cli->argc - 1;
    char **argv = cli->argv + 1;
    if (strcmp(sub, "start") == 0)
        return debug_start(cli, argc, argv);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
        if (argc)
            return tg_cli_usage_error("debug list: unexpected argument '%s'", argv[0]);
        return debug_list(cli);
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "stop") == 0) {
        if (argc != 1)
            return tg_cli_usage_error("debug %s: expected one debug session ID", sub);
        return sub[1] == 'h' ? debug_show(cli, argv[0]) : debug_stop(cli, argv[0]);
    }
    return tg_cli_usage_error("debug: unknown subcommand '%s' (start, list, show, stop)", sub);
}

/* ----------------------------------------------------------------------------------------------- trace */

static void trace_print(struct tg_cli *cli, const char *event, size_t num, json_t *tx)
{
    if (cli->format != TG_OUT_TABLE) {
        json_t *e = json_pack("{s:s,s:I,s:O}", "event", event, "index", (json_int_t)num, "transaction", tx);
        tg_print_event(stdout, e, cli->format);
        json_decref(e);
        return;
    }
    json_t *req = json_object_get(tx, "request");
    long long status = (long long)json_integer_value(json_object_get(tx, "status"));
    char ws[256], pols[1024];
    ws_text(ws, sizeof ws, tx);
    if (strcmp(event, "closed") == 0) {
        printf("[%zu] %s %s  %s\n", num, str_or(req, "method", "-"), str_or(req, "path", "-"), ws);
    } else {
        policies_text(pols, sizeof pols, tx);
        printf("[%zu] %s %s -> %lld  endpoint %s\n", num, str_or(req, "method", "-"), str_or(req, "path", "-"),
               status, str_or(tx, "endpoint", "-"));
        printf("     policies: %s\n", pols);
        if (status == 101)
            printf("     websocket: %s\n", ws);
    }
    fflush(stdout);
}

int tg_cmd_trace(struct tg_cli *cli)
{
    if (cli->argc == 0 || tg_cli_wants_help(cli->argc, cli->argv)) {
        puts("Usage: tollgatectl trace ID [--interval SECONDS] [-o table|json|yaml]\n\n"
             "Follows debug session ID (see tollgatectl debug start): prints each transaction as it is recorded\n"
             "(a WebSocket's 101 record while it is open) and each WebSocket record again when its session\n"
             "closes (duration, messages and bytes each way, close code and side). With -o json, one JSON object\n"
             "per line: {\"event\":\"transaction\"|\"closed\",\"index\":N,\"transaction\":{...}}.\n"
             "Ends when the debug session ends (exit 0) or on Ctrl-C.");
        return cli->argc == 0 ? TG_EXIT_USAGE : TG_EXIT_OK;
    }
    const char *id = cli->argv[0];
    double interval = 0.5;
    for (int i = 1; i < cli->argc; i++) {
        if (strcmp(cli->argv[i], "--interval") == 0 && i + 1 < cli->argc)
            interval = atof(cli->argv[++i]);
        else
            return tg_cli_usage_error("trace: unexpected argument '%s'", cli->argv[i]);
    }
    if (interval < 0.1)
        interval = 0.1;
    char path[600];
    snprintf(path, sizeof path, "/debug/sessions/%s", id);
    size_t seen = 0, closed_cap = 0;
    unsigned char *closed = NULL; /* closed[i]: transaction i's close was printed */
    int first = 1, rc = TG_EXIT_OK;
    for (;;) {
        struct tg_admin_reply reply;
        char err[1024];
        rc = tg_admin_request(&cli->admin, "GET", path, NULL, &reply, err, sizeof err);
        if (rc == TG_EXIT_NOT_FOUND && !first) {
            json_decref(reply.json);
            if (cli->format == TG_OUT_TABLE)
                printf("debug session %s ended\n", id);
            rc = TG_EXIT_OK;
            break;
        }
        if (rc != TG_EXIT_OK) {
            json_decref(reply.json);
            fprintf(stderr, "tollgatectl: %s\n", err);
            break;
        }
        if (first && cli->format == TG_OUT_TABLE) {
            printf("tracing debug session %s (proxy %s, environment %s); Ctrl-C to stop\n", id,
                   str_or(reply.json, "proxy", "-"), str_or(reply.json, "environment", "-"));
            fflush(stdout);
        }
        first = 0;
        json_t *txs = transactions_of(reply.json);
        size_t n = json_array_size(txs);
        if (n > closed_cap) {
            unsigned char *c = realloc(closed, n);
            if (!c) {
                json_decref(reply.json);
                rc = TG_EXIT_ERROR;
                break;
            }
            memset(c + closed_cap, 0, n - closed_cap);
            closed = c;
            closed_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *tx = json_array_get(txs, i);
            if (i >= seen)
                trace_print(cli, "transaction", i + 1, tx);
            if (!closed[i] && ws_closed(tx)) {
                closed[i] = 1;
                trace_print(cli, "closed", i + 1, tx);
            }
        }
        if (n > seen)
            seen = n;
        size_t open_ws = 0; /* a 101 record still waiting for its close keeps the trace going */
        for (size_t i = 0; i < n; i++)
            if (json_integer_value(json_object_get(json_array_get(txs, i), "status")) == 101 && !closed[i])
                open_ws++;
        const char *state = str_or(reply.json, "state", "");
        int over = strcmp(state, "ended") == 0 || strcmp(state, "expired") == 0 || strcmp(state, "stopped") == 0;
        over = over && open_ws == 0;
        json_decref(reply.json);
        if (over) {
            if (cli->format == TG_OUT_TABLE)
                printf("debug session %s %s\n", id, state);
            break;
        }
        struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
        nanosleep(&ts, NULL);
    }
    free(closed);
    return rc;
}
