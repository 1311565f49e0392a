/* digest_set.h — a set of SHA-256 digests with a value each, for credential lookups: an API key or a token is
 * looked up by the digest of what the client presented, never by the clear value, and the match is confirmed
 * with a constant-time comparison of the whole digest. Built once (compile time of a policy), then read-only
 * and safe to read from every worker at once. Also the SHA-256 helper the auth policies share (hex: common/hex.h). */
#ifndef TG_DIGEST_SET_H
#define TG_DIGEST_SET_H

#include <stddef.h>
#include <stdint.h>

#define TG_DIGEST_LEN 32

struct tg_digest_entry {
    uint8_t digest[TG_DIGEST_LEN];
    void *value;
    int used;
};

struct tg_digest_set {
    struct tg_digest_entry *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

/* Sizes the set for n entries (call once, before adding). 0 or -1 (out of memory). */
int tg_digest_set_init(struct tg_digest_set *s, size_t n);
void tg_digest_set_free(struct tg_digest_set *s);
/* Adds digest → value; returns 1 when added, 0 when the digest was already there (the first value stays), -1
 * when the set is fuller than init allowed. */
int tg_digest_set_add(struct tg_digest_set *s, const uint8_t digest[TG_DIGEST_LEN], void *value);
/* The value of digest, or NULL. Every candidate slot is compared in constant time (CRYPTO_memcmp). */
void *tg_digest_set_get(const struct tg_digest_set *s, const uint8_t digest[TG_DIGEST_LEN]);

void tg_sha256(const void *data, size_t len, uint8_t out[TG_DIGEST_LEN]);

#endif
