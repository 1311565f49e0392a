/* http_status.h — reason phrases of HTTP status codes (RFC 9110 §15), for every component that writes a status
 * line: the data plane's own answers, its admin and control servers, the controller's health server, the demo
 * backend. */
#ifndef TG_HTTP_STATUS_H
#define TG_HTTP_STATUS_H

/* The RFC 9110 reason phrase, or "Unknown" for a code it does not name. */
const char *tg_http_reason(int status);

#endif
