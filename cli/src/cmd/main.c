/* main.c — tollgatectl's command line: the global options (--admin, --token-file, -o, and their environment
 * variables), the command words, help, the bash completion script, and the exit codes of client/admin_client.h.
 * Global options may appear anywhere on the line; everything else belongs to the command. */
#include "cmd/cli.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: tollgatectl [--admin URL] [--token-file PATH] [-o table|json|yaml] COMMAND [ARGS]\n"
    "\n"
    "The operator's CLI over a Tollgate data plane's admin API.\n"
    "\n"
    "Commands:\n"
    "  routes                      the live routing table (host, group, environment, base path, proxy, endpoints)\n"
    "  sessions [--proxy P] [--watch]   live WebSocket sessions\n"
    "  debug start|list|show|stop  debug sessions (record one proxy's transactions)\n"
    "  trace ID                    follow a debug session as it records\n"
    "  config                      the snapshot in force (secrets elided)\n"
    "  version                     client and data-plane versions\n"
    "  completion bash             print the bash completion script\n"
    "\n"
    "Global options:\n"
    "  --admin URL        the admin API (default $TOLLGATE_ADMIN, else http://127.0.0.1:9901)\n"
    "  --token-file PATH  a file holding the admin bearer token (default $TOLLGATE_ADMIN_TOKEN_FILE)\n"
    "  -o, --output FMT   table (default), json or yaml\n"
    "  -h, --help         help; `tollgatectl COMMAND --help` for a command's own\n"
    "\n"
    "Exit codes: 0 ok, 1 other error (5xx, bad answer), 2 usage, 3 admin API unreachable (connection refused,\n"
    "timeout), 4 unauthorized (401/403: missing or wrong token), 5 not found (404).\n";

static const char completion_bash[] =
    "# bash completion for tollgatectl: source it, or install it as\n"
    "# /usr/share/bash-completion/completions/tollgatectl (tollgatectl completion bash > that file)\n"
    "_tollgatectl()\n"
    "{\n"
    "    local cur prev words cword\n"
    "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
    "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
    "    case \"$prev\" in\n"
    "        -o|--output) COMPREPLY=($(compgen -W 'table json yaml' -- \"$cur\")); return ;;\n"
    "        --token-file) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    "        --admin|--env|--proxy|--duration|--filter|--max|--interval) return ;;\n"
    "    esac\n"
    "    local cmd='' sub='' i\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        case \"${COMP_WORDS[i]}\" in\n"
    "            -o|--output|--admin|--token-file|--env|--proxy|--duration|--filter|--max|--interval) ((i++)) ;;\n"
    "            -*) ;;\n"
    "            *) if [ -z \"$cmd\" ]; then cmd=${COMP_WORDS[i]}; elif [ -z \"$sub\" ]; then sub=${COMP_WORDS[i]}; fi ;;\n"
    "        esac\n"
    "    done\n"
    "    local global='--admin --token-file -o --output --help'\n"
    "    case \"$cmd\" in\n"
    "        '') COMPREPLY=($(compgen -W \"routes sessions debug trace config version completion $global\" -- \"$cur\")) ;;\n"
    "        sessions) COMPREPLY=($(compgen -W \"--proxy --watch --interval $global\" -- \"$cur\")) ;;\n"
    "        debug)\n"
    "            case \"$sub\" in\n"
    "                '') COMPREPLY=($(compgen -W 'start list show stop' -- \"$cur\")) ;;\n"
    "                start) COMPREPLY=($(compgen -W \"--env --proxy --filter --duration --max $global\" -- \"$cur\")) ;;\n"
    "                show|stop) COMPREPLY=($(compgen -W \"$(tollgatectl debug list -o json 2>/dev/null | "
    "sed -n 's/.*\\\"id\\\": *\\\"\\([^\\\"]*\\)\\\".*/\\1/p')\" -- \"$cur\")) ;;\n"
    "            esac ;;\n"
    "        trace) COMPREPLY=($(compgen -W \"--interval $global\" -- \"$cur\")) ;;\n"
    "        version) COMPREPLY=($(compgen -W \"--client $global\" -- \"$cur\")) ;;\n"
    "        completion) COMPREPLY=($(compgen -W 'bash' -- \"$cur\")) ;;\n"
    "        *) COMPREPLY=($(compgen -W \"$global\" -- \"$cur\")) ;;\n"
    "    esac\n"
    "}\n"
    "complete -F _tollgatectl tollgatectl\n";

int tg_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tollgatectl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return TG_EXIT_USAGE;
}

int tg_cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

long tg_cli_parse_seconds(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return -1;
}

int tg_cli_call(struct tg_cli *cli, const char *method, const char *path, json_t *body, json_t **out)
{
    struct tg_admin_reply reply;
    char err[1024];
    int rc = tg_admin_request(&cli->admin, method, path, body, &reply, err, sizeof err);
    if (rc != TG_EXIT_OK) {
        fprintf(stderr, "tollgatectl: %s\n", err);
        json_decref(reply.json);
        *out = NULL;
        return rc;
    }
    *out = reply.json;
    return TG_EXIT_OK;
}

static int completion(int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "bash") == 0) {
        fputs(completion_bash, stdout);
        return TG_EXIT_OK;
    }
    if (tg_cli_wants_help(argc, argv)) {
        puts("Usage: tollgatectl completion bash\n\nPrints the bash completion script: source <(tollgatectl "
             "completion bash)");
        return TG_EXIT_OK;
    }
    return tg_cli_usage_error("completion: only 'bash' is supported");
}

int main(int argc, char **argv)
{
    const char *admin = getenv("TOLLGATE_ADMIN");
    const char *token_file = getenv("TOLLGATE_ADMIN_TOKEN_FILE");
    const char *format = "table";
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, rc;
    if (!rest)
        return TG_EXIT_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                rest[nrest++] = argv[i];
        } else if (strcmp(a, "--admin") == 0 || strcmp(a, "--token-file") == 0 || strcmp(a, "-o") == 0 ||
                   strcmp(a, "--output") == 0) {
            if (!v) {
                rc = tg_cli_usage_error("%s needs a value", a);
                goto out;
            }
            if (a[2] == 'a')
                admin = v;
            else if (a[2] == 't')
                token_file = v;
            else
                format = v;
            i++;
        } else if (strncmp(a, "--admin=", 8) == 0) {
            admin = a + 8;
        } else if (strncmp(a, "--token-file=", 13) == 0) {
            token_file = a + 13;
        } else if (strncmp(a, "--output=", 9) == 0) {
            format = a + 9;
        } else if (strncmp(a, "-o", 2) == 0 && a[2]) {
            format = a + 2;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    struct tg_cli cli = {0};
    if (strcmp(format, "table") == 0 || strcmp(format, "wide") == 0) {
        cli.format = TG_OUT_TABLE;
    } else if (strcmp(format, "json") == 0) {
        cli.format = TG_OUT_JSON;
    } else if (strcmp(format, "yaml") == 0) {
        cli.format = TG_OUT_YAML;
    } else {
        rc = tg_cli_usage_error("-o %s: the output format is table, json or yaml", format);
        goto out;
    }
    if (nrest == 0 || strcmp(rest[0], "help") == 0 || strcmp(rest[0], "-h") == 0 || strcmp(rest[0], "--help") == 0) {
        fputs(usage_text, nrest == 0 ? stderr : stdout);
        rc = nrest == 0 ? TG_EXIT_USAGE : TG_EXIT_OK;
        goto out;
    }
    const char *cmd = rest[0];
    cli.argc = nrest - 1;
    cli.argv = rest + 1;
    if (strcmp(cmd, "completion") == 0) {
        rc = completion(cli.argc, cli.argv);
        goto out;
    }
    char err[600];
    if (tg_admin_init(&cli.admin, admin && *admin ? admin : "http://127.0.0.1:9901", token_file, err, sizeof err) !=
        0) {
        fprintf(stderr, "tollgatectl: %s\n", err);
        rc = TG_EXIT_USAGE;
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "routes") == 0)
        rc = tg_cmd_routes(&cli);
    else if (strcmp(cmd, "sessions") == 0)
        rc = tg_cmd_sessions(&cli);
    else if (strcmp(cmd, "debug") == 0)
        rc = tg_cmd_debug(&cli);
    else if (strcmp(cmd, "trace") == 0)
        rc = tg_cmd_trace(&cli);
    else if (strcmp(cmd, "config") == 0)
        rc = tg_cmd_config(&cli);
    else if (strcmp(cmd, "version") == 0)
        rc = tg_cmd_version(&cli);
    else
        rc = tg_cli_usage_error("unknown command '%s' (see tollgatectl --help)", cmd);
    curl_global_cleanup();
out:
    free(rest);
    return rc;
}
