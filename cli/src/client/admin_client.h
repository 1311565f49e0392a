/* admin_client.h — tollgatectl's one way to the data plane's admin API: an HTTP request (libcurl, blocking, with
 * timeouts) to --admin URL with the bearer token of --token-file, its JSON answer parsed, and every failure
 * sorted into the few kinds a shell script can tell apart by exit code (docs/operations.md, "tollgatectl"). */
#ifndef TG_CLI_ADMIN_CLIENT_H
#define TG_CLI_ADMIN_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/* Exit codes of tollgatectl (documented; scripts rely on them). */
enum tg_cli_exit {
    TG_EXIT_OK = 0,
    TG_EXIT_ERROR = 1,        /* anything else: a 5xx, a body that is not JSON, a local I/O error */
    TG_EXIT_USAGE = 2,        /* bad command line */
    TG_EXIT_UNREACHABLE = 3,  /* connection refused, host unknown, timeout */
    TG_EXIT_UNAUTHORIZED = 4, /* 401 or 403: missing or wrong admin token */
    TG_EXIT_NOT_FOUND = 5,    /* 404: no such debug session (or endpoint not served by this data plane) */
};

struct tg_admin {
    char base[512];  /* "http://127.0.0.1:9901", no trailing slash */
    char token[512]; /* bearer token, "" when none */
    long timeout_ms;
};

struct tg_admin_reply {
    long status;  /* HTTP status, 0 when no answer */
    json_t *json; /* the parsed body (owned), NULL when empty or not JSON */
};

/* Sets the base URL (trailing slashes dropped) and reads the token file when path is non-empty (trailing
 * whitespace dropped). Returns 0, or -1 with a message in err. */
int tg_admin_init(struct tg_admin *a, const char *url, const char *token_file, char *err, size_t errlen);

/* METHOD base+path with body (may be NULL) as JSON. Returns an enum tg_cli_exit: TG_EXIT_OK for a 2xx (reply
 * filled), otherwise the kind of failure with a plain one-line message in err (reply->status set when an answer
 * came). The caller frees reply->json. */
int tg_admin_request(const struct tg_admin *a, const char *method, const char *path, json_t *body,
                     struct tg_admin_reply *reply, char *err, size_t errlen);

#endif
