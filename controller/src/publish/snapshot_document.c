/* snapshot_document.c — see snapshot_document.h. */
#include "publish/snapshot_document.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tg_snapshot_hash(const json_t *content, char out[TG_SNAPSHOT_HASH_HEX])
{
    char *text = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
    free(text);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
    return 0;
}

json_t *tg_snapshot_finalize(const json_t *content, uint64_t version, int64_t unix_ms)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *doc = json_pack("{s:I,s:s}", "version", (json_int_t)version, "generatedAt", when);
    if (!doc)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)content, key, v) {
        if (strcmp(key, "version") != 0 && strcmp(key, "generatedAt") != 0)
            json_object_set(doc, key, v);
    }
    return doc;
}

char *tg_snapshot_dump(const json_t *doc, size_t *len)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    if (s && len)
        *len = strlen(s);
    return s;
}
