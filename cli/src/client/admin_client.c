/* admin_client.c — HTTP to the admin API over libcurl's easy interface (one request at a time: the CLI blocks),
 * the bearer token, JSON in and out, and the failures a script can tell apart: unreachable, 401/403, 404,
 * anything else. */
#include "client/admin_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body_buf {
    char *data;
    size_t len, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > 64u * 1024 * 1024)
            return 0; /* an admin answer this large is not one */
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int tg_admin_init(struct tg_admin *a, const char *url, const char *token_file, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = 10000;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(a->base, sizeof a->base, "http://%s", url);
    } else {
        snprintf(a->base, sizeof a->base, "%s", url);
    }
    size_t n = strlen(a->base);
    while (n > 0 && a->base[n - 1] == '/')
        a->base[--n] = '\0';
    if (token_file && *token_file) {
        FILE *f = fopen(token_file, "r");
        if (!f) {
            snprintf(err, errlen, "cannot read the token file %s: %m", token_file);
            return -1;
        }
        size_t got = fread(a->token, 1, sizeof a->token - 1, f);
        fclose(f);
        a->token[got] = '\0';
        while (got > 0 && (a->token[got - 1] == '\n' || a->token[got - 1] == '\r' || a->token[got - 1] == ' ' ||
                           a->token[got - 1] == '\t'))
            a->token[--got] = '\0';
        if (got == 0) {
            snprintf(err, errlen, "the token file %s is empty", token_file);
            return -1;
        }
    }
    return 0;
}

/* The error message of a JSON error body ({"error":{"message":...}}), or "". */
static const char *error_message(json_t *body)
{
    json_t *e = json_object_get(body, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!m)
        m = json_string_value(e);
    return m ? m : "";
}

int tg_admin_request(const struct tg_admin *a, const char *method, const char *path, json_t *body,
                     struct tg_admin_reply *reply, char *err, size_t errlen)
{
    memset(reply, 0, sizeof *reply);
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return TG_EXIT_ERROR;
    }
    char url[2048], auth[600], curl_err[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof url, "%s%s", a->base, path);
    struct body_buf buf = {0};
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (a->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->token);
        headers = curl_slist_append(headers, auth);
    }
    char *payload = NULL;
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload ? payload : "{}");
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tollgatectl");
    CURLcode rc = curl_easy_perform(curl);
    int result = TG_EXIT_OK;
    if (rc != CURLE_OK) {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(rc);
        if (rc == CURLE_COULDNT_CONNECT)
            snprintf(err, errlen, "cannot reach the admin API at %s: connection refused (is the data plane running? "
                     "set --admin or TOLLGATE_ADMIN)", a->base);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(err, errlen, "cannot reach the admin API at %s: timed out", a->base);
        else
            snprintf(err, errlen, "cannot reach the admin API at %s: %s", a->base, why);
        result = rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                         rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_GOT_NOTHING ||
                         rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR
                     ? TG_EXIT_UNREACHABLE
                     : TG_EXIT_ERROR;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    if (buf.len) {
        json_error_t jerr;
        reply->json = json_loadb(buf.data, buf.len, 0, &jerr);
    }
    if (reply->status == 401 || reply->status == 403) {
        snprintf(err, errlen, "the admin API refused the request (%ld %s): %s; check --token-file or "
                 "TOLLGATE_ADMIN_TOKEN_FILE", reply->status, reply->status == 401 ? "Unauthorized" : "Forbidden",
                 a->token[0] ? "wrong admin token" : "an admin token is required");
        result = TG_EXIT_UNAUTHORIZED;
    } else if (reply->status == 404) {
        const char *m = error_message(reply->json);
        snprintf(err, errlen, "not found (404): %s %s%s%s", method, path, *m ? ": " : "", m);
        result = TG_EXIT_NOT_FOUND;
    } else if (reply->status < 200 || reply->status > 299) {
        const char *m = error_message(reply->json);
        snprintf(err, errlen, "the admin API answered %ld to %s %s%s%s", reply->status, method, path, *m ? ": " : "",
                 m);
        result = TG_EXIT_ERROR;
    } else if (buf.len && !reply->json) {
        snprintf(err, errlen, "the admin API's answer to %s %s is not JSON", method, path);
        result = TG_EXIT_ERROR;
    }
out:
    if (result != TG_EXIT_OK && result != TG_EXIT_NOT_FOUND) {
        json_decref(reply->json);
        reply->json = NULL;
    }
    free(buf.data);
    free(payload);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return result;
}
