/* ip_limit.c — see ip_limit.h: a chained hash of client addresses → live connection count, under one mutex. */
#include "proxy/ip_limit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tg_ip_limit_entry {
    struct tg_ip_limit_entry *next;
    size_t count;
    char ip[46];
};

static size_t bucket_of(const char *ip)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % TG_IP_LIMIT_BUCKETS;
}

void tg_ip_limit_init(struct tg_ip_limit *l, size_t max_per_ip)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    l->max_per_ip = max_per_ip;
}

void tg_ip_limit_destroy(struct tg_ip_limit *l)
{
    for (size_t i = 0; i < TG_IP_LIMIT_BUCKETS; i++)
        while (l->buckets[i]) {
            struct tg_ip_limit_entry *e = l->buckets[i];
            l->buckets[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&l->lock);
}

int tg_ip_limit_acquire(struct tg_ip_limit *l, const char *ip)
{
    size_t b = bucket_of(ip);
    int taken = 0;
    pthread_mutex_lock(&l->lock);
    struct tg_ip_limit_entry *e = l->buckets[b];
    while (e && strcmp(e->ip, ip) != 0)
        e = e->next;
    if (e) {
        if (e->count < l->max_per_ip) {
            e->count++;
            taken = 1;
        }
    } else if ((e = calloc(1, sizeof *e))) {
        strncpy(e->ip, ip, sizeof e->ip - 1);
        e->count = 1;
        e->next = l->buckets[b];
        l->buckets[b] = e;
        l->num_entries++;
        taken = 1;
    }
    pthread_mutex_unlock(&l->lock);
    return taken;
}

void tg_ip_limit_release(struct tg_ip_limit *l, const char *ip)
{
    size_t b = bucket_of(ip);
    pthread_mutex_lock(&l->lock);
    for (struct tg_ip_limit_entry **pp = &l->buckets[b]; *pp; pp = &(*pp)->next) {
        struct tg_ip_limit_entry *e = *pp;
        if (strcmp(e->ip, ip) != 0)
            continue;
        if (--e->count == 0) { /* the address holds nothing: its entry goes */
            *pp = e->next;
            l->num_entries--;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&l->lock);
}

size_t tg_ip_limit_count(struct tg_ip_limit *l, const char *ip)
{
    size_t n = 0;
    pthread_mutex_lock(&l->lock);
    for (struct tg_ip_limit_entry *e = l->buckets[bucket_of(ip)]; e; e = e->next)
        if (strcmp(e->ip, ip) == 0) {
            n = e->count;
            break;
        }
    pthread_mutex_unlock(&l->lock);
    return n;
}
