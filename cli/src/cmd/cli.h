/* cli.h — what every tollgatectl command is given: the admin API client, the output format, the command's own
 * arguments (global options already taken out), and the helpers that report a failure the documented way. */
#ifndef TG_CLI_CLI_H
#define TG_CLI_CLI_H

#include "client/admin_client.h"
#include "client/output.h"

struct tg_cli {
    struct tg_admin admin;
    enum tg_out_format format;
    int argc;     /* the command's arguments, after the command word(s) */
    char **argv;
};

/* GET/POST/DELETE path; on failure prints "tollgatectl: MESSAGE" to stderr. Returns an enum tg_cli_exit;
 * *out gets the JSON body (owned by the caller) on success. */
int tg_cli_call(struct tg_cli *cli, const char *method, const char *path, json_t *body, json_t **out);
/* Prints "tollgatectl: MESSAGE" to stderr and returns TG_EXIT_USAGE. */
int tg_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether argv holds -h or --help. */
int tg_cli_wants_help(int argc, char **argv);
/* Seconds from "30", "30s", "5m", "1h"; -1 when it does not parse. */
long tg_cli_parse_seconds(const char *s);

/* The commands (cmd_live.c, cmd_debug.c). Each returns an enum tg_cli_exit. */
int tg_cmd_routes(struct tg_cli *cli);
int tg_cmd_sessions(struct tg_cli *cli);
int tg_cmd_config(struct tg_cli *cli);
int tg_cmd_version(struct tg_cli *cli);
int tg_cmd_debug(struct tg_cli *cli);
int tg_cmd_trace(struct tg_cli *cli);

#define TG_CLI_VERSION "0.1.0"

#endif
