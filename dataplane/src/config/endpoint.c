/* endpoint.c — see endpoint.h. */
#include "config/endpoint.h"

#include "strmap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tg_strmap registry; /* name, or name + " tls:" + profile → struct tg_endpoint* */
static _Atomic uint32_t endpoint_total;

uint32_t tg_endpoint_count(void) { return atomic_load_explicit(&endpoint_total, memory_order_acquire); }

struct tg_endpoint *tg_endpoint_intern(const char *address, long port, char *err, size_t err_size)
{
    return tg_endpoint_intern_tls(address, port, NULL, err, err_size);
}

struct tg_endpoint *tg_endpoint_intern_tls(const char *address, long port, const char *tls_profile, char *err,
                                           size_t err_size)
{
    if (port < 1 || port > 65535) {
        snprintf(err, err_size, "port %ld out of range 1-65535", port);
        return NULL;
    }
    struct tg_endpoint probe;
    memset(&probe, 0, sizeof probe);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&probe.addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&probe.addr;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        probe.addr_len = sizeof *v4;
        snprintf(probe.name, sizeof probe.name, "%s:%ld", address, port);
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        probe.addr_len = sizeof *v6;
        char text[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        snprintf(probe.name, sizeof probe.name, "[%s]:%ld", text, port);
    } else {
        snprintf(err, err_size, "address \"%.64s\" is not an IPv4 or IPv6 literal", address);
        return NULL;
    }
    char key[sizeof probe.name + 80];
    probe.tls = tls_profile && *tls_profile;
    int klen = snprintf(key, sizeof key, "%s%s%.64s", probe.name, probe.tls ? " tls:" : "", probe.tls ? tls_profile : "");
    struct tg_endpoint *found = tg_strmap_get(&registry, key, (size_t)klen);
    if (found)
        return found;
    struct tg_endpoint *ep = malloc(sizeof *ep);
    char *stored_key = malloc((size_t)klen + 1);
    if (!ep || !stored_key) {
        free(ep);
        free(stored_key);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    *ep = probe;
    atomic_init(&ep->active, 0);
    atomic_init(&ep->connect_failures, 0);
    atomic_init(&ep->tls_log_ms, 0);
    atomic_init(&ep->tls_log_left_out, 0);
    ep->index = atomic_load_explicit(&endpoint_total, memory_order_relaxed);
    memcpy(stored_key, key, (size_t)klen + 1); /* lives as long as the entry: the process */
    int put_err = 0;
    tg_strmap_put(&registry, stored_key, (size_t)klen, ep, &put_err);
    if (put_err) {
        free(ep);
        free(stored_key);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    atomic_store_explicit(&endpoint_total, ep->index + 1, memory_order_release);
    return ep;
}
