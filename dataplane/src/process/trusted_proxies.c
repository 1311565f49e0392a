/* trusted_proxies.c — the --trusted-proxies flag (trusted_proxies.h). */
#include "process/trusted_proxies.h"

#include "ip_cidr.h"

#include <stdio.h>
#include <string.h>

int tg_trusted_proxies_flag(const char *value, struct tg_proxy_settings *settings)
{
    static struct tg_cidr list[TG_TRUSTED_PROXIES_MAX];
    size_t n = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        const char *why = "empty entry";
        if (len == 0 || len >= sizeof item || n == TG_TRUSTED_PROXIES_MAX) {
            if (n == TG_TRUSTED_PROXIES_MAX)
                why = "more than 64 entries";
            else if (len)
                why = "entry too long";
            fprintf(stderr, "tollgate-dataplane: --trusted-proxies: %s\n", why);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (tg_cidr_parse(item, &list[n], &why) != 0) {
            fprintf(stderr, "tollgate-dataplane: --trusted-proxies: %s: %s\n", item, why);
            return -1;
        }
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    settings->trusted_proxies = list;
    settings->num_trusted_proxies = n;
    return 0;
}
