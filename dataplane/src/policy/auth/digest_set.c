/* digest_set.c — see digest_set.h. Open addressing with linear probing; the slot index comes from the digest's
 * first bytes (SHA-256 output is uniform, so no further hashing is needed). */
#include "policy/auth/digest_set.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int tg_digest_set_init(struct tg_digest_set *s, size_t n)
{
    memset(s, 0, sizeof *s);
    size_t cap = 8;
    while (cap < n * 2 + 2)
        cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    if (!s->slots)
        return -1;
    s->cap = cap;
    return 0;
}

void tg_digest_set_free(struct tg_digest_set *s)
{
    if (s->slots)
        OPENSSL_cleanse(s->slots, s->cap * sizeof *s->slots);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static size_t slot_of(const struct tg_digest_set *s, const uint8_t *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & (s->cap - 1);
}

int tg_digest_set_add(struct tg_digest_set *s, const uint8_t digest[TG_DIGEST_LEN], void *value)
{
    if (!s->cap || s->count + 1 > s->cap / 2)
        return -1; /* sized by init; never over half full */
    for (size_t i = slot_of(s, digest);; i = (i + 1) & (s->cap - 1)) {
        struct tg_digest_entry *e = &s->slots[i];
        if (!e->used) {
            memcpy(e->digest, digest, TG_DIGEST_LEN);
            e->value = value;
            e->used = 1;
            s->count++;
            return 1;
        }
        if (CRYPTO_memcmp(e->digest, digest, TG_DIGEST_LEN) == 0)
            return 0;
    }
}

void *tg_digest_set_get(const struct tg_digest_set *s, const uint8_t digest[TG_DIGEST_LEN])
{
    if (!s->cap)
        return NULL;
    for (size_t i = slot_of(s, digest);; i = (i + 1) & (s->cap - 1)) {
        const struct tg_digest_entry *e = &s->slots[i];
        if (!e->used)
            return NULL;
        if (CRYPTO_memcmp(e->digest, digest, TG_DIGEST_LEN) == 0)
            return e->value;
    }
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); /* kept for the process's life */
}

void tg_sha256(const void *data, size_t len, uint8_t out[TG_DIGEST_LEN])
{
    /* SHA-256 fetched once: SHA256() fetches the implementation on every call in OpenSSL 3 (issue 15) */
    pthread_once(&sha256_once, fetch_sha256);
    unsigned int n = 0;
    if (!sha256_md || EVP_Digest(data, len, out, &n, sha256_md, NULL) != 1 || n != TG_DIGEST_LEN)
        SHA256(data, len, out);
}

