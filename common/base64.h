/* base64.h — the project's one base64 implementation: standard base64 with padding (RFC 4648 §4: Kubernetes
 * Secret data, kubeconfig certificate data) and base64url without padding (RFC 4648 §5, RFC 7515 §2: JWS, JWK).
 * Both decoders are strict (alphabet, padding placement, zero leftover bits) so two spellings of one value are
 * never both accepted. */
#ifndef TG_BASE64_H
#define TG_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Standard base64 with padding; spaces, tabs and line breaks are skipped. Returns a malloc'd, NUL-terminated
 * buffer with its length in *out_len (may be NULL), or NULL when the input is not valid base64. */
char *tg_base64_decode_alloc(const char *in, size_t in_len, size_t *out_len);

/* base64url without padding: only [A-Za-z0-9_-], no "=", no whitespace, unused bits of the last character
 * zero. Writes at most out_size bytes; returns the decoded length or -1. */
long tg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size);
/* Encodes without padding into out (≥ 4 * ceil(len / 3) + 1 bytes); returns the length. */
size_t tg_b64url_encode(const uint8_t *in, size_t len, char *out);

#endif
