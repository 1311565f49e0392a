/* kube_client.h — asynchronous HTTP requests to the Kubernetes API server on the controller's libev loop.
 *
 * Owns: one libcurl multi handle driven by libev (curl_ev.h: nothing blocks the loop, no threads), the TLS and
 * authentication settings of every request (from kube_config.h), connection reuse and HTTP/2 multiplexing where
 * the server offers it (all watches share one TCP+TLS connection, as client-go's do), bounded response bodies,
 * and streaming bodies for watches.
 *
 * Lifecycle of a request: tg_kube_request_start() returns a handle; exactly one of these then happens:
 * on_done is called once (success, HTTP error or transport error; the handle is freed after it returns), or
 * the caller cancels it with tg_kube_request_cancel() (on_done is never called). Cancelling from any callback
 * is safe, including from the request's own on_data.
 *
 * A 401 makes the client re-read a rotating token file before the caller retries.
 */
#ifndef TG_KUBE_CLIENT_H
#define TG_KUBE_CLIENT_H

#include "kube/kube_config.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

/* Largest buffered response body (a list page); streaming bodies are bounded by their consumer. */
#define TG_KUBE_MAX_BODY_BYTES (256u << 20)

struct tg_kube_client;
struct tg_kube_request;

struct tg_kube_response {
    long status;          /* HTTP status, 0 when there was no HTTP response */
    const char *error;    /* transport error text (connect, TLS, timeout, body too large), or NULL */
    const char *body;     /* the buffered body, NUL-terminated ("" for streamed 2xx bodies) */
    size_t body_len;
    double seconds;       /* time the request took */
};

/* The whole response, or the end of a streamed one. resp is valid during the call only. */
typedef void (*tg_kube_done_cb)(void *arg, const struct tg_kube_response *resp);
/* A piece of a 2xx body of a streamed request. Return 0 to go on, -1 to abort (on_done follows with
 * error "aborted"). */
typedef int (*tg_kube_data_cb)(void *arg, const char *data, size_t len);

struct tg_kube_request_opts {
    const char *method;        /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;          /* path and query, starting with '/'; query values already escaped */
    const char *content_type;  /* for a body; NULL = application/json */
    const char *body;          /* copied; NULL for none */
    size_t body_len;
    long timeout_ms;           /* whole request; 0 = none (watches bound themselves with timeoutSeconds) */
    tg_kube_data_cb on_data;   /* non-NULL: stream a 2xx body instead of buffering it */
    tg_kube_done_cb on_done;
    void *arg;
};

struct tg_kube_client_stats {
    uint64_t requests, failures, unauthorized;
};

/* cfg is borrowed and must outlive the client. Returns NULL on allocation failure. */
struct tg_kube_client *tg_kube_client_new(struct ev_loop *loop, struct tg_kube_config *cfg);
/* Cancels every pending request (without calling on_done) and frees the client. */
void tg_kube_client_free(struct tg_kube_client *c);

struct tg_kube_request *tg_kube_request_start(struct tg_kube_client *c, const struct tg_kube_request_opts *o);
void tg_kube_request_cancel(struct tg_kube_request *r);

const struct tg_kube_client_stats *tg_kube_client_stats(const struct tg_kube_client *c);
struct ev_loop *tg_kube_client_loop(const struct tg_kube_client *c);

/* Formats an API error for logs from an error response: "403 Forbidden: <Status.message>" or the transport
 * error. A 403 is spelled out as the RBAC permission missing ("the service account may not VERB RESOURCE"),
 * verb and resource coming from the caller. Returns out. */
const char *tg_kube_describe_error(const struct tg_kube_response *resp, const char *verb, const char *resource,
                                   char *out, size_t outlen);

/* Percent-encodes s for use in a query value (RFC 3986 §2.1: everything but unreserved). Returns out, or
 * NULL when it does not fit. */
char *tg_kube_query_escape(const char *s, char *out, size_t outlen);

#endif
